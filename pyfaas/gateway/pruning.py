"""The gateway's pruning task: finished calls' records and results older than the retention go.

Every ``prune_interval`` seconds (about a minute) it runs
``queue.prune(now - PYFAAS_RESULT_RETENTION)``; with a retention of 0 it does
not run. Retention is also the idempotency window (see ``settings``): a
pruned call's id may be used again. A prune that fails (the queue is down) is
logged and tried again at the next tick, never the end of the task; the app
starts it and cancels it on shutdown, waiting for it to end.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pyfaas import _tasks as tasks
from pyfaas.errors import PyfaasError
from pyfaas.queue.base import Queue

log = logging.getLogger("pyfaas.gateway")


class Pruner:
    """Runs ``queue.prune`` on a timer until stopped."""

    def __init__(self, queue: Queue, retention: float, interval: float) -> None:
        self._queue = queue
        self._retention = retention
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.pruned = 0  # records pruned since start, for tests and logs
        self.runs = 0

    def start(self) -> None:
        if self._retention > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="pyfaas-pruner")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await tasks.stop(task)

    async def prune_once(self) -> int:
        count = await self._queue.prune(time.time() - self._retention)
        self.runs += 1
        self.pruned += count
        if count:
            log.info("pruned %d finished calls older than %.0f s", count, self._retention)
        return count

    async def _run(self) -> None:
        while True:
            try:
                await self.prune_once()
            except PyfaasError as exc:
                log.warning("pruning finished calls failed: %s", exc)
            except Exception:
                # A backend bug must not end pruning for the gateway's lifetime.
                log.exception("pruning finished calls failed")
            await asyncio.sleep(self._interval)
