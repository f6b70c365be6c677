"""The in-memory queue: a real twin of the durable backends, for tests.

It keeps the whole contract of ``pyfaas.queue.base`` (leases that expire and
are handed out again with ``attempt + 1``, retries with a delay, dead letters,
replay, records, dedupe by call id) inside one process and one event loop.
Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from dataclasses import dataclass, replace
from typing import ClassVar

from pyfaas.errors import NotFound, QueueUnavailable
from pyfaas.queue._records import final_state, new_record, settled
from pyfaas.queue.base import QueueStats
from pyfaas.queue.envelope import CallRecord, CallState, Delivery, Outcome, QueuedCall


@dataclass
class _Entry:
    """A call waiting or leased: ``due`` is when it may be claimed (again)."""

    seq: int
    call: QueuedCall
    due: float
    attempt: int = 0
    token: str | None = None


class MemoryQueue:
    """The queue contract held in dictionaries."""

    foreign_writes: ClassVar[bool] = False  # it holds only what its own put stored, as objects

    def __init__(self) -> None:
        self._records: dict[str, CallRecord] = {}
        self._entries: dict[str, _Entry] = {}  # call id -> waiting or leased call
        self._calls: dict[str, QueuedCall] = {}  # every call ever put, for replay
        self._dead_at: dict[str, float] = {}
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._open = False

    async def start(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False
        self._changed.set()

    def _check_open(self) -> None:
        if not self._open:
            raise QueueUnavailable("memory queue is not started or already closed")

    async def put(self, call: QueuedCall) -> bool:
        self._check_open()
        if call.call_id in self._records:
            return False
        self._records[call.call_id] = new_record(call)
        self._calls[call.call_id] = call
        self._enqueue(call)
        return True

    def _enqueue(self, call: QueuedCall) -> None:
        self._entries[call.call_id] = _Entry(next(self._seq), call, due=time.monotonic())
        self._changed.set()

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        self._check_open()
        deadline = time.monotonic() + wait
        while True:
            deliveries = self._take(limit, lease)
            now = time.monotonic()
            if deliveries or now >= deadline or not self._open:
                return deliveries
            self._changed.clear()
            upcoming = [entry.due for entry in self._entries.values()]
            until = min([deadline, *upcoming])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=max(until - now, 0.001))

    def _take(self, limit: int, lease: float) -> list[Delivery]:
        now = time.monotonic()
        due = sorted((e for e in self._entries.values() if e.due <= now), key=lambda e: e.seq)
        deliveries = []
        for entry in due[:limit]:
            entry.attempt += 1
            entry.token = uuid.uuid4().hex
            entry.due = now + lease
            record = self._records[entry.call.call_id]
            record.state = CallState.RUNNING
            record.attempts = entry.attempt
            record.started_at = time.time()
            deliveries.append(Delivery(call=entry.call, attempt=entry.attempt, token=entry.token))
        return deliveries

    def _leased(self, delivery: Delivery) -> _Entry:
        self._check_open()
        entry = self._entries.get(delivery.call.call_id)
        if entry is None or entry.token != delivery.token:
            raise NotFound(f"lease on call {delivery.call.call_id} was lost")
        return entry

    async def extend(self, delivery: Delivery, lease: float) -> None:
        self._leased(delivery).due = time.monotonic() + lease

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        self._settle(delivery, final_state(outcome), outcome)

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None:
        entry = self._leased(delivery)
        entry.token = None
        entry.due = time.monotonic() + delay
        call_id = delivery.call.call_id
        self._records[call_id] = settled(
            self._records[call_id], CallState.RETRYING, outcome, time.time()
        )
        self._changed.set()

    async def bury(self, delivery: Delivery, outcome: Outcome) -> None:
        self._settle(delivery, CallState.DEAD, outcome)
        self._dead_at[delivery.call.call_id] = time.time()

    def _settle(self, delivery: Delivery, state: CallState, outcome: Outcome) -> None:
        self._leased(delivery)
        call_id = delivery.call.call_id
        del self._entries[call_id]
        self._records[call_id] = settled(self._records[call_id], state, outcome, time.time())

    async def mark_running(self, delivery: Delivery) -> None:
        self._leased(delivery)
        record = self._records[delivery.call.call_id]
        record.state = CallState.RUNNING
        record.attempts = delivery.attempt
        record.started_at = time.time()

    async def record(self, call_id: str) -> CallRecord | None:
        self._check_open()
        found = self._records.get(call_id)
        return None if found is None else replace(found)

    async def dead_letters(self, limit: int = 100) -> list[CallRecord]:
        self._check_open()
        newest = sorted(self._dead_at, key=self._dead_at.__getitem__, reverse=True)
        return [replace(self._records[call_id]) for call_id in newest[:limit]]

    async def replay(self, call_id: str) -> None:
        self._check_open()
        if call_id not in self._dead_at:
            raise NotFound(f"no dead letter with call id {call_id}")
        del self._dead_at[call_id]
        self._records[call_id] = replace(
            self._records[call_id], state=CallState.QUEUED, attempts=0, finished_at=None
        )
        self._enqueue(self._calls[call_id])

    async def stats(self) -> QueueStats:
        self._check_open()
        running = sum(1 for e in self._entries.values() if e.token is not None)
        return QueueStats(
            queued=len(self._entries) - running, running=running, dead=len(self._dead_at)
        )
