"""The in-memory queue: a real twin of the durable backends, for tests.

It keeps the whole contract of ``pyfaas.queue.base`` (leases that expire and
are handed out again with ``attempt + 1``, retries with a delay, dead letters,
replay, records, dedupe by call id and fingerprint, delays and expiry,
functions in turn, stored results, cancel, prune, per-function counts) inside
one process and one event loop, with the rules of ``pyfaas.queue._records``
the other backends apply too. Nothing survives the process.

Its time comes from an injected ``Clock`` (the system's by default): a
monotonic clock for leases, delays and claim waits, a wall clock for records
and ``not_before``/``expire_at``. A test may pass a clock whose time it moves
itself, so that a lease expiring or a delay passing takes no real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

from pyfaas.errors import Conflict, NotFound, QueueUnavailable
from pyfaas.queue._records import (
    CANCELLABLE,
    as_of,
    callback_failure,
    cancel_refusal,
    cancelled_record,
    conflicts,
    expired_record,
    fair_key,
    fair_order,
    final_state,
    is_expired,
    matches,
    new_record,
    replayed_call,
    replayed_record,
    settled,
)
from pyfaas.queue.backends._listing import is_callback, page_size, picks, position
from pyfaas.queue.base import CallFilter, CallPage, DeadLetterFilter, FunctionStats, QueueStats
from pyfaas.queue.envelope import (
    CallRecord,
    CallState,
    Delivery,
    Outcome,
    QueuedCall,
    StoredResult,
)

# States of a call that is done with: ``prune`` may remove their records.
_FINISHED = frozenset(
    {
        CallState.SUCCEEDED,
        CallState.FAILED,
        CallState.DEAD,
        CallState.CANCELLED,
        CallState.EXPIRED,
    }
)


class Clock(Protocol):
    """The time the memory queue keeps."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: leases, delays, claim waits."""
        ...

    def time(self) -> float:
        """Unix seconds: records, ``not_before`` and ``expire_at``."""
        ...

    async def wait(self, event: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
        """Return once ``event`` is set or ``timeout`` seconds have passed."""
        ...


class SystemClock:
    """The machine's clocks and the event loop's timers."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def wait(self, event: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=timeout)


@dataclass
class _Entry:
    """A call waiting or leased: ``due`` is when it may be claimed (again)."""

    seq: int
    call: QueuedCall
    due: float  # on the clock's monotonic()
    attempt: int = 0
    token: str | None = None


class MemoryQueue:
    """The queue contract held in dictionaries."""

    foreign_writes: ClassVar[bool] = False  # it holds only what its own put stored, as objects
    # Nothing outlives the object: a queue opened again is another, empty queue.
    durable: ClassVar[bool] = False

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._records: dict[str, CallRecord] = {}
        self._entries: dict[str, _Entry] = {}  # call id -> waiting or leased call
        self._calls: dict[str, QueuedCall] = {}  # every call whose record exists, for replay
        self._results: dict[str, StoredResult] = {}
        self._dead_at: dict[str, float] = {}
        # Settled for good per lane, and failed callbacks per function: never lowered.
        self._processed: dict[str, int] = {}
        self._callback_failures: dict[str, int] = {}
        self._seq = itertools.count()
        self._listed: dict[str, int] = {}  # call id -> its put's place, the listing's cursor
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
        known = self._records.get(call.call_id)
        if known is not None:
            if conflicts(known.fingerprint, call.fingerprint):
                raise Conflict(f"call ID {call.call_id} is taken by another call")
            return False
        self._records[call.call_id] = new_record(call)
        self._calls[call.call_id] = call
        self._listed[call.call_id] = next(self._seq)
        self._enqueue(call)
        return True

    def _enqueue(self, call: QueuedCall) -> None:
        # not_before is wall-clock time; the queue waits on the monotonic clock.
        ahead = max(call.not_before - self._clock.time(), 0.0)
        due = self._clock.monotonic() + ahead
        self._entries[call.call_id] = _Entry(next(self._seq), call, due=due)
        self._changed.set()

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        self._check_open()
        deadline = self._clock.monotonic() + wait
        while True:
            deliveries = self._take(limit, lease)
            now = self._clock.monotonic()
            if deliveries or now >= deadline or not self._open:
                return deliveries
            self._changed.clear()
            upcoming = [entry.due for entry in self._entries.values()]
            until = min([deadline, *upcoming])
            await self._clock.wait(self._changed, max(until - now, 0.001))

    def _take(self, limit: int, lease: float) -> list[Delivery]:
        now, wall = self._clock.monotonic(), self._clock.time()
        due = sorted((e for e in self._entries.values() if e.due <= now), key=lambda e: e.seq)
        claimable: dict[int, _Entry] = {}
        for entry in due:
            if is_expired(entry.call, entry.attempt, wall):
                self._set_aside(entry, wall)
            else:
                claimable[entry.seq] = entry
        picked = fair_order([(fair_key(e.call), seq) for seq, e in claimable.items()], limit)
        deliveries = []
        for seq in picked:
            entry = claimable[seq]
            entry.attempt += 1
            entry.token = uuid.uuid4().hex
            entry.due = now + lease
            record = self._records[entry.call.call_id]
            record.state = CallState.RUNNING
            record.attempts = entry.attempt
            record.started_at = wall
            deliveries.append(
                Delivery(call=entry.call, attempt=entry.attempt, token=entry.token, claimed_at=wall)
            )
        return deliveries

    def _set_aside(self, entry: _Entry, wall: float) -> None:
        """Make a call not started by its expire_at a dead letter instead of running it."""
        call_id = entry.call.call_id
        del self._entries[call_id]
        self._records[call_id] = expired_record(self._records[call_id], wall)
        self._dead_at[call_id] = wall

    def _leased(self, delivery: Delivery) -> _Entry:
        self._check_open()
        entry = self._entries.get(delivery.call.call_id)
        if entry is None or entry.token != delivery.token:
            raise NotFound(f"lease on call {delivery.call.call_id} was lost")
        return entry

    async def extend(self, delivery: Delivery, lease: float) -> None:
        self._leased(delivery).due = self._clock.monotonic() + lease

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        self._settle(delivery, final_state(outcome), outcome)

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None:
        entry = self._leased(delivery)
        entry.token = None
        entry.due = self._clock.monotonic() + delay
        call_id = delivery.call.call_id
        wall = self._clock.time()
        self._records[call_id] = settled(
            self._records[call_id], CallState.RETRYING, outcome, wall, delivery.attempt
        )
        self._changed.set()

    async def bury(self, delivery: Delivery, outcome: Outcome) -> None:
        self._settle(delivery, CallState.DEAD, outcome)
        self._dead_at[delivery.call.call_id] = self._clock.time()

    def _settle(self, delivery: Delivery, state: CallState, outcome: Outcome) -> None:
        self._leased(delivery)
        call_id = delivery.call.call_id
        del self._entries[call_id]
        self._records[call_id] = settled(
            self._records[call_id], state, outcome, self._clock.time(), delivery.attempt
        )
        if outcome.result is not None:
            self._results[call_id] = outcome.result
        lane = fair_key(delivery.call)
        self._processed[lane] = self._processed.get(lane, 0) + 1
        failed = callback_failure(delivery.call, state)
        if failed is not None:
            self._callback_failures[failed] = self._callback_failures.get(failed, 0) + 1

    async def mark_running(self, delivery: Delivery) -> None:
        self._leased(delivery)
        record = self._records[delivery.call.call_id]
        record.state = CallState.RUNNING
        record.attempts = delivery.attempt
        record.started_at = self._clock.time()

    async def record(self, call_id: str) -> CallRecord | None:
        self._check_open()
        found = self._records.get(call_id)
        return None if found is None else replace(as_of(found, self._clock.time()))

    def _dead(self, where: DeadLetterFilter | None) -> list[str]:
        """The ids of the dead letters ``where`` picks, newest first."""
        newest = sorted(self._dead_at, key=self._dead_at.__getitem__, reverse=True)
        return [call_id for call_id in newest if matches(self._records[call_id], where)]

    async def dead_letters(
        self, limit: int = 100, where: DeadLetterFilter | None = None
    ) -> list[CallRecord]:
        self._check_open()
        return [replace(self._records[call_id]) for call_id in self._dead(where)[:limit]]

    async def dead_letter(self, call_id: str) -> tuple[CallRecord, QueuedCall | None]:
        self._check_open()
        if call_id not in self._dead_at:
            raise NotFound(f"no dead letter with call id {call_id}")
        return replace(self._records[call_id]), self._calls[call_id]

    async def replay(self, call_id: str) -> None:
        self._check_open()
        if call_id not in self._dead_at:
            raise NotFound(f"no dead letter with call id {call_id}")
        del self._dead_at[call_id]
        self._results.pop(call_id, None)
        self._records[call_id] = replayed_record(self._records[call_id])
        self._calls[call_id] = replayed_call(self._calls[call_id])
        self._enqueue(self._calls[call_id])

    async def replay_where(self, where: DeadLetterFilter) -> int:
        self._check_open()
        picked = self._dead(where)
        for call_id in picked:
            await self.replay(call_id)
        return len(picked)

    async def purge(self, where: DeadLetterFilter) -> int:
        self._check_open()
        picked = self._dead(where)
        for call_id in picked:
            self._forget(call_id)
        return len(picked)

    def _forget(self, call_id: str) -> None:
        """Remove every trace of a call that is done with; its id may be used again."""
        self._records.pop(call_id, None)
        self._calls.pop(call_id, None)
        self._results.pop(call_id, None)
        self._dead_at.pop(call_id, None)
        self._listed.pop(call_id, None)

    async def result(self, call_id: str) -> StoredResult | None:
        self._check_open()
        return self._results.get(call_id)

    async def cancel(self, call_id: str) -> CallRecord:
        self._check_open()
        found = self._records.get(call_id)
        if found is None:
            raise NotFound(f"no call with call id {call_id}")
        entry = self._entries.get(call_id)
        if found.state not in CANCELLABLE or entry is None or entry.token is not None:
            raise Conflict(cancel_refusal(as_of(found, self._clock.time())))
        del self._entries[call_id]
        self._records[call_id] = cancelled_record(found, self._clock.time())
        return replace(self._records[call_id])

    async def calls(self, where: CallFilter | None = None, limit: int = 50) -> CallPage:
        """Newest put first: the records dict keeps put order, and its places grow."""
        self._check_open()
        where = where or CallFilter()
        before, size, now = position(where), page_size(limit), self._clock.time()
        found: list[CallRecord] = []
        for call_id in reversed(self._records):
            place = self._listed[call_id]
            if (before is not None and place >= before) or is_callback(call_id):
                continue
            record = as_of(self._records[call_id], now)
            if picks(record, where):
                if len(found) == size:
                    return CallPage(tuple(found), str(self._listed[found[-1].call_id]))
                found.append(replace(record))
        return CallPage(tuple(found))

    async def prune(self, before: float) -> int:
        self._check_open()
        old = [
            call_id
            for call_id, record in self._records.items()
            if record.state in _FINISHED
            and record.finished_at is not None
            and record.finished_at < before
        ]
        for call_id in old:
            self._forget(call_id)
        return len(old)

    async def stats(self) -> QueueStats:
        self._check_open()
        wall = self._clock.time()
        counts: dict[str, dict[str, float]] = {}
        for entry in self._entries.values():
            shares = counts.setdefault(fair_key(entry.call), FunctionStats.zero_counts())
            shares[self._share(entry, wall)] += 1
            if entry.token is None and entry.attempt == 0 and entry.call.not_before <= wall:
                waited = wall - max(entry.call.submitted_at, entry.call.not_before)
                shares["oldest_age"] = max(shares["oldest_age"], waited)
        for call_id in self._dead_at:
            call = self._calls[call_id]
            counts.setdefault(fair_key(call), FunctionStats.zero_counts())["dead"] += 1
        for key, n in self._processed.items():
            counts.setdefault(key, FunctionStats.zero_counts())["processed"] += n
        for key, n in self._callback_failures.items():
            counts.setdefault(key, FunctionStats.zero_counts())["callback_failures"] += n
        functions = FunctionStats.from_counts(counts)
        return QueueStats(
            queued=sum(f.queued for f in functions),
            running=sum(f.running for f in functions),
            dead=len(self._dead_at),
            delayed=sum(f.delayed for f in functions),
            retrying=sum(f.retrying for f in functions),
            functions=functions,
        )

    def _share(self, entry: _Entry, wall: float) -> str:
        """Which count of ``FunctionStats`` a waiting or leased call adds to."""
        if entry.token is not None:
            return "running"
        if entry.attempt > 0:
            return "retrying"
        return "delayed" if entry.call.not_before > wall else "queued"
