"""Per-function concurrency caps (``com.pyfaas.queue.max_inflight``) inside the global one.

A call whose function is at its cap waits here, holding its lease (which the
loop keeps extending), instead of going back to the queue: it is never lost
and keeps its place. ``on_wait`` is told when a call has to wait, so that
the loop can give the call's worker-wide slot to another function's call
meanwhile. Functions without a cap pay nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

# What an uncapped function holds: nothing, and no generator made per call.
_UNCAPPED: AbstractAsyncContextManager[None] = nullcontext()


class FunctionSlots:
    def __init__(self) -> None:
        self._busy: dict[str, int] = {}
        self._freed: dict[str, asyncio.Condition] = {}

    def busy(self, ref: str) -> int:
        return self._busy.get(ref, 0)

    def hold(
        self, ref: str, limit: int | None, on_wait: Callable[[], None] | None = None
    ) -> AbstractAsyncContextManager[None]:
        """A slot of ``ref``'s, held for the ``async with``; ``limit`` None: no cap.

        ``on_wait`` is called once, before waiting, if the slot is not free at once.
        """
        return _UNCAPPED if limit is None else self._capped(ref, limit, on_wait)

    @asynccontextmanager
    async def _capped(
        self, ref: str, limit: int, on_wait: Callable[[], None] | None
    ) -> AsyncIterator[None]:
        freed = self._freed.setdefault(ref, asyncio.Condition())
        async with freed:
            if on_wait is not None and self._busy.get(ref, 0) >= limit:
                on_wait()
            await freed.wait_for(lambda: self._busy.get(ref, 0) < limit)
            self._busy[ref] = self._busy.get(ref, 0) + 1
        try:
            yield
        finally:
            await self._release(ref, freed)

    async def _release(self, ref: str, freed: asyncio.Condition) -> None:
        # Shielded so a cancelled holder still gives its slot back.
        async def release() -> None:
            async with freed:
                self._busy[ref] -= 1
                freed.notify()

        await asyncio.shield(release())
