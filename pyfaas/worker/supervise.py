"""The worker's one answer to an unexpected exception: log it in one line, then go on or stop.

Every task the worker runs ends up here when something it did not plan for
is raised, so no task dies silently (asyncio's "Task exception was never
retrieved" was once the only trace of a worker that had stopped claiming).
What happens next depends on what failed, and each caller says which:

* ``once``: log and go on; for steps that are tried again anyway (a lease
  is extended every third of ``ack_wait``) and for hooks, which fail in
  isolation as Dramatiq's middleware do;
* ``retrying``: log, wait with a doubling backoff and try again, for ever
  (claiming: a worker that claims nothing does no harm, and a fresh process
  would find the same queue) or a few times (settling);
* ``fatal``: log and end the worker with a non-zero status, so that ``pyfaas
  serve`` restarts it; for a worker that can no longer settle what it runs,
  whose every result would be lost and its call run again elsewhere.

None of them makes a task per call: they run in the task that called them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pyfaas.worker.logs import EventLog, short_id

T = TypeVar("T")
A = TypeVar("A")


class Backoff:
    """Waits that double from ``first`` to ``longest``; ``reset`` after a success."""

    def __init__(self, first: float = 0.1, longest: float = 5.0) -> None:
        self.first, self.longest = first, longest
        self.failures = 0

    def next(self) -> float:
        self.failures += 1
        return float(min(self.first * 2.0 ** (self.failures - 1), self.longest))

    def reset(self) -> None:
        self.failures = 0


class Supervisor:
    def __init__(self, log: EventLog, on_fatal: Callable[[], None] = lambda: None) -> None:
        self._log = log
        self._on_fatal = on_fatal
        self._stopping = asyncio.Event()
        self.failure: str | None = None  # why the worker must end, once it must

    def stop(self) -> None:
        """Cut the waits of ``retrying`` short: the worker is stopping."""
        self._stopping.set()

    def report(
        self, what: str, exc: BaseException, call_id: str = "", then: str = "", *, seq: int = 0
    ) -> None:
        """The one line of a failure: what failed, on which call, and what happens next."""
        head = f"[#{seq}] " if seq else ""
        on = f" (call {call_id})" if call_id else ""
        tail = f"; {then}" if then else ""
        self._log.line(f"{head}{what[:1].upper()}{what[1:]} failed{on}: {exc!r}{tail}")

    async def once(
        self, what: str, step: Callable[..., Awaitable[object]], *args: object, call_id: str = ""
    ) -> BaseException | None:
        """Run ``step(*args)``; an exception is logged and returned, never raised."""
        try:
            await step(*args)
        except Exception as exc:
            self.report(what, exc, call_id)
            return exc
        return None

    async def each(
        self, what: str, steps: Sequence[Callable[[A], Awaitable[None]]], arg: A, call_id: str = ""
    ) -> str | None:
        """Run every step on ``arg``, each whatever the others did; what failed, or None.

        The hooks' steps, in isolation as Dramatiq's middleware: one hook's
        exception is logged and the next hook still runs.
        """
        failed: list[str] = []
        for step in steps:
            try:
                await step(arg)
            except Exception as exc:
                name = getattr(step, "__qualname__", what)
                self.report(f"hook {name}", exc, call_id)
                failed.append(f"hook {name} failed: {exc!r}")
        return "; ".join(failed) if failed else None

    async def retrying(
        self,
        what: str,
        step: Callable[..., Awaitable[T]],
        *args: object,
        backoff: Backoff | None = None,
        tries: int | None = None,
        call_id: str = "",
    ) -> T | None:
        """``step(*args)``'s value, tried again after each failure; ``None`` if given up.

        Gives up after ``tries`` failures or, if ``tries`` is None, once the
        worker is stopping; ``backoff`` (0.1 s doubling to 2 s unless given)
        spaces the tries. ``step`` must not return ``None``.
        """
        while True:
            try:
                value = await step(*args)
            except Exception as exc:
                backoff = backoff or Backoff(0.1, 2.0)
                delay = backoff.next()
                if (tries is not None and backoff.failures >= tries) or (
                    tries is None and self._stopping.is_set()
                ):
                    self.report(what, exc, call_id, f"given up after {backoff.failures} tries")
                    return None
                self.report(what, exc, call_id, f"trying again in {delay:g}s")
                with contextlib.suppress(TimeoutError):
                    if tries is None:  # only an endless retry is cut short by a stop
                        await asyncio.wait_for(self._stopping.wait(), delay)
                    else:
                        await asyncio.sleep(delay)
                continue
            if backoff is not None:
                backoff.reset()
            return value

    def fatal(self, what: str, reason: str, call_id: str = "") -> None:
        """End the worker: it stops claiming, drains, and exits with status 1."""
        on = f" (call {short_id(call_id)})" if call_id else ""
        if self.failure is None:
            self.failure = f"{what}{on}: {reason}"
            self._log.line(f"Stopping the worker, it cannot go on: {self.failure}")
        self._on_fatal()
