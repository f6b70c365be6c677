"""The SQLite queue: the default backend, embedded, one file shared by processes.

The gateway process puts and the queue-worker process claims, each through
its own connections to the same file (WAL mode; a put returns only once its
call is fsynced, so a 202 is never sent for a call a crash could lose;
leases and settles are committed without an fsync, since losing one to a
power cut only makes a call run again). Every write (puts, claims, leases,
settles, replays) is made by a child process (``_sqlite_writer``), which
group-commits what arrives together, so that its statements do not compete
with the gateway's or the worker's HTTP work for one interpreter lock;
reads run on one thread (``_sqlite_thread``). A claim is a lease: if its
holder dies, the row becomes due again when the lease ends and is handed
out with ``attempt + 1``. A row whose payload holds no call (written by
some other program) is set aside by the claim as a dead letter. On a full
disk every write fails with "queue storage is full" and rolls back, so
what was committed stays; writes succeed again once there is room. SQL
lives in ``_sqlite_store`` (the hot path's puts and claims), ``_sqlite_settle``
(extend, settle and ack a lease; read a record), ``_sqlite_steer`` (cancel, dead
letters by filter, prune, counts) and ``_sqlite_schema`` (tables, and the
migration of an older file when it is opened).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, ClassVar

from pyfaas.errors import NotFound, QueueUnavailable
from pyfaas.queue.backends import _sqlite_settle as settle
from pyfaas.queue.backends import _sqlite_steer as steer
from pyfaas.queue.backends._sqlite_thread import SqliteThread
from pyfaas.queue.backends._sqlite_writer import Writer
from pyfaas.queue.base import CallFilter, CallPage, DeadLetterFilter, QueueStats
from pyfaas.queue.envelope import (
    CallRecord,
    CallState,
    Delivery,
    Outcome,
    QueuedCall,
    StoredResult,
)

# Another process's puts are only seen by polling; the wait between polls
# grows from the first to the last value while the queue stays empty.
POLL_FIRST = 0.005
POLL_MAX = 0.05
# A call started this long after its claim has its start time noted at once.
START_NOTED_AFTER = 0.1


class SqliteQueue:
    """The queue contract on one SQLite file."""

    foreign_writes: ClassVar[bool] = True  # any program may write the file: a row may hold no call

    def __init__(self, path: str, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self._thread = SqliteThread(path, busy_timeout)
        self._writer = Writer(path, busy_timeout)
        self._wakeup = asyncio.Event()  # set by this process's own puts
        self._state = "new"

    async def start(self) -> None:
        if self._state == "open":
            return
        if self._state == "closed":
            raise QueueUnavailable(f"sqlite queue {self.path} is closed")
        await self._thread.start()
        # The writer's child takes some 70 ms to start: not on the first put.
        # One that cannot start fails the puts (503s) and is tried again then.
        with contextlib.suppress(QueueUnavailable):
            await self._writer.start()
        self._state = "open"

    async def close(self) -> None:
        if self._state == "open":
            self._state = "closed"
            self._wakeup.set()
            await self._writer.close()
            await self._thread.stop()
        self._state = "closed"

    def _check_open(self) -> None:
        if self._state != "open":
            raise QueueUnavailable(f"sqlite queue {self.path} is not open")

    async def _read(self, fn: Any, *args: Any) -> Any:
        self._check_open()
        return await self._thread.run(lambda conn: fn(conn, *args))

    async def put(self, call: QueuedCall) -> bool:
        self._check_open()
        stored = await self._writer.put(call)
        self._wakeup.set()
        return stored

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        deadline = time.monotonic() + wait
        pause = POLL_FIRST
        while True:
            self._wakeup.clear()
            self._check_open()
            deliveries = await self._writer.claim(limit, lease)
            remaining = deadline - time.monotonic()
            if deliveries or remaining <= 0 or self._state != "open":
                return deliveries
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=min(pause, remaining))
            if self._state != "open":
                return []  # closed while waiting: a worker shutting down
            pause = min(pause * 2, POLL_MAX)

    async def extend(self, delivery: Delivery, lease: float) -> None:
        self._check_open()
        await self._writer.extend(delivery, lease)

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        self._check_open()
        await self._writer.settle(delivery, None, outcome, None)

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None:
        self._check_open()
        await self._writer.settle(delivery, CallState.RETRYING, outcome, time.time() + delay)

    async def bury(self, delivery: Delivery, outcome: Outcome) -> None:
        self._check_open()
        await self._writer.settle(delivery, CallState.DEAD, outcome, None)

    async def mark_running(self, delivery: Delivery) -> None:
        # The claim already recorded ``running``: this refinement of
        # ``started_at`` is not waited for and commits with the next write. A
        # call that starts right after its claim keeps the claim's time (the
        # settle records the exact start anyway): one write a call less.
        self._check_open()
        now = time.time()  # the caller's moment, not the later one of the commit
        if now - delivery.claimed_at < START_NOTED_AFTER:
            return
        await self._writer.mark_running(delivery, now)

    async def record(self, call_id: str) -> CallRecord | None:
        found: CallRecord | None = await self._read(settle.record, call_id)
        return found

    async def dead_letters(
        self, limit: int = 100, where: DeadLetterFilter | None = None
    ) -> list[CallRecord]:
        found: list[CallRecord] = await self._read(
            steer.dead_letters, limit, steer.where_fields(where)
        )
        return found

    async def dead_letter(self, call_id: str) -> tuple[CallRecord, QueuedCall | None]:
        found: tuple[CallRecord, QueuedCall | None] = await self._read(steer.dead_letter, call_id)
        return found

    async def replay(self, call_id: str) -> None:
        self._check_open()
        await self._writer.replay(call_id)
        self._wakeup.set()

    async def replay_where(self, where: DeadLetterFilter) -> int:
        self._check_open()
        replayed = await self._writer.replay_where(where)
        self._wakeup.set()
        return replayed

    async def purge(self, where: DeadLetterFilter) -> int:
        self._check_open()
        return await self._writer.purge(where)

    async def result(self, call_id: str) -> StoredResult | None:
        found: StoredResult | None = await self._read(steer.result, call_id)
        return found

    async def cancel(self, call_id: str) -> CallRecord:
        """Cancelled in the writer's transaction, then read back (a cancelled record stays so)."""
        self._check_open()
        await self._writer.cancel(call_id)
        found = await self.record(call_id)
        if found is None:  # pruned or purged in between: gone, as an unknown id is
            raise NotFound(f"no call with call id {call_id}")
        return found

    async def prune(self, before: float) -> int:
        """In batches of ``PRUNE_BATCH``, each its own transaction: puts pass in between."""
        self._check_open()
        pruned = 0
        while (batch := await self._writer.prune(before)) > 0:
            pruned += batch
            if batch < steer.PRUNE_BATCH:
                break
        return pruned

    async def stats(self) -> QueueStats:
        found: QueueStats = await self._read(steer.stats)
        return found

    async def calls(self, where: CallFilter | None = None, limit: int = 50) -> CallPage:
        found: CallPage = await self._read(steer.calls, where or CallFilter(), limit)
        return found
