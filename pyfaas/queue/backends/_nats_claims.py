"""What a claim does with the messages its lanes gave: hand them out, set them aside, or wait.

A plain call's first delivery is attempt 1: it is handed out at once, and
runs without a run lock unless a cancel marked it (``_nats_cancels``: one
look at the marks per claim, not one lock write per call); a marked one's
lock (``_nats_locks``) is taken by a write started with the claim and
awaited by ``mark_running`` before the call runs. A delivery on the
delayed or retry lanes, or one delivered again, takes its attempt number
from the lock and its record (JetStream's delivery count also counts the
deliveries nak'ed for being early): a round trip or two more, for those
calls only. A call still early (``not_before``, or the due
time in a retry's ``Pyfaas-Due`` header) is nak'ed with the time left, so a
delay survives a restart as any message does; a call not started by its
``expire_at`` becomes a dead letter; a cancelled call's message is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import nats.errors
from nats.aio.msg import Msg

from pyfaas.errors import NotFound
from pyfaas.queue._records import (
    attempt_of,
    bury_reason,
    decode_call,
    expired_record,
    is_expired,
    new_record,
    settled,
)
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_layout import CALLBACK_LANE, CALLS
from pyfaas.queue.envelope import CallRecord, CallState, Delivery, Outcome, QueuedCall

if TYPE_CHECKING:
    from pyfaas.queue.backends.nats import NatsQueue

# States of a call whose message, delivered again, is dropped.
FINISHED = frozenset(
    {CallState.SUCCEEDED, CallState.FAILED, CallState.DEAD, CallState.CANCELLED, CallState.EXPIRED}
)
# The header of a retry's message: when it is due (Unix seconds).
DUE = "Pyfaas-Due"
# A call nak'ed for its delay comes back this much after it: not a moment early.
_DUE_MARGIN = 0.01


class Held:
    """What a claim learnt of a delivery beyond its message: its lock, its record so far."""

    __slots__ = ("lock", "prior")

    def __init__(self, lock: asyncio.Future[Msg] | None, prior: CallRecord | None) -> None:
        self.lock = lock  # the reply to the run lock's create, sent with the claim
        self.prior = prior  # the record before this attempt, for its history


class Deliveries:
    """The deliveries one queue handed out, and what its claims learnt of each."""

    def __init__(self, queue: NatsQueue) -> None:
        self._q = queue
        self.held: dict[str, Held] = {}  # token -> what its claim learnt

    def before(self, delivery: Delivery, held: Held | None) -> CallRecord:
        """The record this attempt settles: the one read at claim, or the call's first."""
        if held is not None and held.prior is not None:
            return replace(held.prior)
        # A fresh record of the call's own, changed in place: dataclasses.replace
        # costs some 5 µs a call, and a settle makes several records.
        record = new_record(delivery.call)
        record.attempts = delivery.attempt
        return record

    def settle(
        self, delivery: Delivery, held: Held | None, state: CallState, outcome: Outcome
    ) -> CallRecord:
        """The record a settle writes: ``_records.settled``, in place on a first record."""
        now = time.time()
        if held is not None and held.prior is not None:
            return settled(held.prior, state, outcome, now, delivery.attempt)
        return settled_fresh(self.before(delivery, None), state, outcome, now, delivery.attempt)

    async def started(self, delivery: Delivery, msg: Msg) -> Held | None:
        """Before the call runs: its run lock, taken; ``NotFound`` if it was cancelled."""
        held = self.held.get(delivery.token)
        if held is not None and held.lock is not None:
            _, _, _, _, locks = self._q.parts()
            taken = await locks.first_taken(delivery.call.call_id, held.lock)
            held.lock = None
            if not taken:  # cancelled while the claim was on its way: never run
                self._q.leases.held.pop(delivery.token, None)
                self.held.pop(delivery.token, None)
                await self.drop(msg)
                raise NotFound(f"call {delivery.call.call_id} was cancelled")
        return held

    def close(self) -> None:
        for held in self.held.values():
            if held.lock is not None:
                held.lock.cancel()
        self.held.clear()

    async def hand_out(self, found: list[tuple[Msg, float]]) -> list[Delivery]:
        """The deliveries among ``found``; the rest set aside, nak'ed for their delay or dropped."""
        _, _, _, letters, locks = self._q.parts()
        now = time.time()
        deliveries: list[Delivery] = []
        slow: list[tuple[Msg, QueuedCall, float, bool]] = []
        marked: frozenset[str] | None = None  # looked at once, for the first call that asks
        for msg, since in found:
            call = decode_call(msg.data)
            if call is None:
                await letters.set_aside(msg)
                continue
            lane = self._q.names.lane_of(msg.subject)
            kind = CALLS if lane is None else lane[0]
            due = _due(msg) or call.not_before
            if due > now:
                await self._later(msg, due - now)
                continue
            # JetStream's count is the attempt only for a call never nak'ed
            # for being early (a delay, a retry's due time).
            counted = kind == CALLS and not call.not_before and DUE not in (msg.headers or {})
            attempt = msg.metadata.num_delivered
            if not counted or attempt > 1:
                slow.append((msg, call, since, counted))
                continue
            if is_expired(call, 0, now):
                await self._expire(msg, call)
                continue
            try:
                if marked is None:
                    marked = await self._q.marks().marked()
                lock = None
                if records.key_for(call.call_id) in marked:  # a cancel is on its way
                    lock = await locks.send_first(call.call_id)
                    lock.add_done_callback(_seen)
            except nats.errors.Error:
                continue  # left leased: handed out again once its lease runs out
            deliveries.append(self.lease(msg, call, 1, since, Held(lock, None)))
        if slow:
            taken = await asyncio.gather(*(self._take_slow(*entry) for entry in slow))
            deliveries += [d for d in taken if d is not None]
        return deliveries

    async def _take_slow(
        self, msg: Msg, call: QueuedCall, since: float, counted: bool
    ) -> Delivery | None:
        """A delivery whose attempt the run lock tells: a delayed call, a retry, a redelivery."""
        _, _, _, _, locks = self._q.parts()
        try:
            (last, cancelled), stored = await asyncio.gather(
                locks.last_attempt(call.call_id), self._q.read(call.call_id)
            )
            if cancelled or _settled(stored, msg):
                await self.drop(msg)
                return None
            # The record counts the attempts that ran without a lock (a first one).
            ran = stored[0].attempts if stored is not None else 0
            attempt = max(last, ran) + 1
            if counted:
                attempt = max(msg.metadata.num_delivered, attempt)
            if attempt == 1 and is_expired(call, 0, time.time()):
                await self._expire(msg, call)
                return None
            if not await locks.take(call.call_id, attempt):
                await self.drop(msg)
                return None
            prior = None if stored is None or attempt == 1 else stored[0]
        except nats.errors.Error:
            return None  # left leased: handed out again once its lease runs out
        return self.lease(msg, call, attempt, since, Held(None, prior))

    def lease(self, msg: Msg, call: QueuedCall, attempt: int, since: float, held: Held) -> Delivery:
        token = msg.reply
        self._q.leases.held[token] = (msg, self._q.leases.end(since))
        self.held[token] = held
        return Delivery(call, attempt=attempt, token=token)

    async def _later(self, msg: Msg, delay: float) -> None:
        """Back to the stream until it is due; JetStream counts it, the attempt does not."""
        with contextlib.suppress(nats.errors.Error):
            await msg.nak(delay=delay + _DUE_MARGIN)

    async def drop(self, msg: Msg) -> None:
        """A cancelled call's message, still in the stream: gone, never run."""
        with contextlib.suppress(nats.errors.Error):
            await self._q.parts()[2].request(msg.reply, b"+TERM")

    async def _expire(self, msg: Msg, call: QueuedCall) -> None:
        """Set aside a call not started by its expire_at: a dead letter, never run."""
        _, _, pub, letters, _ = self._q.parts()
        try:
            namespace, function = lane_of(call)
            dseq = await letters.add(call.call_id, msg.data, namespace, function)
            stored = await self._q.read(call.call_id)
            record = stored[0] if stored is not None else new_record(call)
            expired = expired_record(record, time.time())
            await records.write(pub, self._q.names.bucket, expired, records.Extras(dseq=dseq))
            await pub.request(msg.reply, b"")
        except nats.errors.Error:
            pass  # left leased: the claim that gets it again tries again


def settled_fresh(
    record: CallRecord, state: CallState, outcome: Outcome, now: float, attempt: int
) -> CallRecord:
    """``_records.settled`` of a record made for this settle alone, changed in place.

    Its two ``dataclasses.replace`` cost a tenth of a worker's time per call;
    a unit test holds the two to the same answers.
    """
    final = state is not CallState.RETRYING
    record.history = [attempt_of(attempt, outcome, record.started_at, now)]
    record.state = state
    record.attempts = max(record.attempts, attempt)
    record.started_at = outcome.started_at or record.started_at
    record.finished_at = (outcome.finished_at or now) if final else None
    record.status_code = outcome.status_code
    record.error = outcome.error
    record.callback_status = outcome.callback_status
    record.callback_attempts = outcome.callback_attempts
    record.reason = bury_reason(outcome) if state is CallState.DEAD else None
    if final:
        record.has_result = outcome.result is not None
    return record


def _settled(stored: tuple[CallRecord, records.Extras] | None, msg: Msg) -> bool:
    """Whether a delivery again is of a call already settled: its ack was lost, or the
    message is one a retry replaced (the record names the retry's message)."""
    if stored is None:
        return False
    record, extras = stored
    if record.state in FINISHED:
        return True
    return bool(extras.seq) and extras.seq != msg.metadata.sequence.stream


def _due(msg: Msg) -> float:
    """A retry's due time from its header; 0 for none, or for one no number (anyone may publish)."""
    try:
        return float((msg.headers or {}).get(DUE) or 0)
    except ValueError:
        return 0.0


def _seen(task: asyncio.Future[Msg]) -> None:
    """A lock write nobody awaited (the call was settled unstarted): its failure is no news."""
    if not task.cancelled():
        task.exception()


def lane_of(call: QueuedCall) -> tuple[str, str]:
    """The (namespace, function) of the lane ``call`` takes turns in."""
    return CALLBACK_LANE if call.answer is not None else (call.namespace, call.function)
