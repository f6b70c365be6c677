"""The pruner stops at once even when a prune in flight swallows the cancellation.

A NATS prune waits in nats-py code that, on Python 3.11, may drop the
cancellation; the pruner then went on to sleep its interval (a minute) and
held the gateway's shutdown that long.
"""

from __future__ import annotations

import asyncio
import time

from pyfaas.gateway.pruning import Pruner
from pyfaas.queue.backends.memory import MemoryQueue


class _SwallowingQueue(MemoryQueue):
    """A queue whose prune eats the first cancellation and returns, as a library might."""

    def __init__(self) -> None:
        super().__init__()
        self.pruning = asyncio.Event()
        self.swallowed = False

    async def prune(self, before: float) -> int:
        self.pruning.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.swallowed = True
        return 0


async def test_stop_ends_a_pruner_whose_prune_swallowed_the_cancel() -> None:
    queue = _SwallowingQueue()
    pruner = Pruner(queue, retention=60.0, interval=3600.0)
    pruner.start()
    await asyncio.wait_for(queue.pruning.wait(), timeout=10)
    started = time.monotonic()
    await asyncio.wait_for(pruner.stop(), timeout=10)
    assert queue.swallowed
    assert time.monotonic() - started < 10
