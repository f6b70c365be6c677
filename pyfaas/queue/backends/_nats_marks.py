"""Running records of NATS calls, written late and only for calls still running.

A call's ``running`` record is written in the background once the call has
run a while (``START_NOTED_AFTER`` in ``nats``): the call need not wait a
round trip for it, and most calls are over sooner, their final record
taking its place (one write of three a call saved). A look-up through this
process writes a pending one first; a settle drops it, or waits for the
one on its way, so that it never lands after the final record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from pyfaas.queue.envelope import CallRecord

Write = Callable[[CallRecord], Coroutine[Any, Any, None]]


class RunningRecords:
    """The running records of one process's calls, pending or being written."""

    def __init__(self, write: Write, after: float) -> None:
        self._write = write
        self._after = after
        # call id -> the write of its running record, still in flight
        self._marking: dict[str, asyncio.Task[None]] = {}
        # call id -> its running record, not yet written, and the timer that will
        self._unmarked: dict[str, tuple[asyncio.TimerHandle, CallRecord]] = {}

    def note(self, started: CallRecord) -> None:
        """Write ``started`` if its call is still running ``after`` seconds from now."""
        call_id = started.call_id
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self._after, self._start_marking, call_id)
        self._unmarked[call_id] = (timer, started)

    async def flush(self, call_id: str) -> None:
        """Write the pending record of ``call_id`` now, and wait for any on its way."""
        self._start_marking(call_id)
        await self._written(call_id)

    async def drop(self, call_id: str) -> None:
        """The call is being settled: its final record says all a pending one would."""
        self._unmark(call_id)
        await self._written(call_id)

    async def close(self) -> None:
        unmarked, self._unmarked = list(self._unmarked.values()), {}
        for timer, _ in unmarked:
            timer.cancel()  # a call still running: its settle or its redelivery says more
        marking, self._marking = list(self._marking.values()), {}
        await asyncio.gather(*marking, return_exceptions=True)  # records still on the way

    async def _written(self, call_id: str) -> None:
        marking = self._marking.get(call_id)
        if marking is not None:
            await asyncio.gather(marking, return_exceptions=True)

    def _start_marking(self, call_id: str) -> None:
        started = self._unmark(call_id)
        if started is None:
            return
        task = asyncio.create_task(self._write(started))
        self._marking[call_id] = task
        task.add_done_callback(lambda done: self._forget_marking(call_id, done))

    def _forget_marking(self, call_id: str, task: asyncio.Task[None]) -> None:
        if self._marking.get(call_id) is task:
            del self._marking[call_id]
        if not task.cancelled():
            task.exception()  # a lost refinement; the settle writes the record anyway

    def _unmark(self, call_id: str) -> CallRecord | None:
        """Take the running record not yet written for ``call_id``, and stop its timer."""
        pending = self._unmarked.pop(call_id, None)
        if pending is None:
            return None
        timer, started = pending
        timer.cancel()
        return started
