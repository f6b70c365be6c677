"""Per-function concurrency inside the global one: caps, and backing off a function that says 429.

A function's cap is its ``com.pyfaas.queue.max_inflight`` annotation. A
call whose function is at its cap waits here, holding its lease (which the
loop keeps extending), instead of going back to the queue: it is never lost
and keeps its place. ``on_wait`` is told when a call has to wait, so that
the loop can give the call's worker-wide slot to another function's call
meanwhile. Functions without a cap pay nothing.

Adaptive concurrency, as in OpenFaaS Pro: a function answering 429 (too
many requests) is over its capacity, so its limit in this worker is halved
(never below 1), starting from its cap or the global ``max_inflight``; each
2xx answer then grows it by one, until it is back at the cap and the
function is uncapped again. The 429'd call itself is retried with its
backoff or ``Retry-After`` as any other; meanwhile the function's other
calls wait for its fewer slots and leave theirs to other functions, instead
of hammering it while others wait.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

TOO_MANY_REQUESTS = 429

# What an uncapped function holds: nothing, and no generator made per call.
UNCAPPED: AbstractAsyncContextManager[None] = nullcontext()


def backed_off(limit: int, status: int, cap: int) -> int:
    """A function's limit after an answer of ``status``: halved on 429, +1 on 2xx, up to ``cap``."""
    if status == TOO_MANY_REQUESTS:
        return max(1, limit // 2)
    if 200 <= status < 300:
        return min(cap, limit + 1)
    return limit


class FunctionSlots:
    def __init__(self) -> None:
        self._busy: dict[str, int] = {}
        self._freed: dict[str, asyncio.Condition] = {}
        # Functions backed off after a 429: their limit in this worker now.
        self.backed: dict[str, int] = {}

    def busy(self, ref: str) -> int:
        return self._busy.get(ref, 0)

    def limit(self, ref: str, cap: int | None) -> int | None:
        """``ref``'s limit now: its backed-off one, else ``cap`` (None: no limit)."""
        return self.backed.get(ref, cap)

    def answered(self, ref: str, status: int, cap: int) -> None:
        """Adapt ``ref``'s limit to its answer; ``cap`` is its own cap or the global maximum."""
        current = self.backed.get(ref, cap)
        limit = backed_off(current, status, cap)
        if limit >= cap:
            self.backed.pop(ref, None)
        elif limit != current or ref not in self.backed:
            self.backed[ref] = limit

    def hold(
        self, ref: str, cap: int | None, on_wait: Callable[[], None] | None = None
    ) -> AbstractAsyncContextManager[None]:
        """A slot of ``ref``'s, held for the ``async with``; no cap and not backed off: free.

        ``on_wait`` is called once, before waiting, if the slot is not free at
        once. A limit that changes meanwhile (``answered``) counts at once.
        """
        if cap is None and ref not in self.backed:
            return UNCAPPED
        return self._capped(ref, sys.maxsize if cap is None else cap, on_wait)

    @asynccontextmanager
    async def _capped(
        self, ref: str, cap: int, on_wait: Callable[[], None] | None
    ) -> AsyncIterator[None]:
        freed = self._freed.setdefault(ref, asyncio.Condition())

        def free() -> bool:
            return self._busy.get(ref, 0) < self.backed.get(ref, cap)

        async with freed:
            if on_wait is not None and not free():
                on_wait()
            await freed.wait_for(free)
            self._busy[ref] = self._busy.get(ref, 0) + 1
        try:
            yield
        finally:
            await self._release(ref, cap, freed)

    async def _release(self, ref: str, cap: int, freed: asyncio.Condition) -> None:
        # Shielded so a cancelled holder still gives its slot back.
        async def release() -> None:
            async with freed:
                self._busy[ref] -= 1
                # A grown limit frees more than this one slot.
                freed.notify(max(1, self.backed.get(ref, cap) - self._busy[ref]))

        await asyncio.shield(release())
