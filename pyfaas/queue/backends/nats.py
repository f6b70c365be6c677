"""The NATS JetStream queue: shared by any number of gateways and workers on any machines.

Layout (names get a suffix when a ``namespace`` is given, so that several
queues, e.g. tests, share one server; ``_nats_layout`` declares them):

* stream ``PYFAAS_CALLS``, work-queue retention (it holds exactly the calls
  not yet settled), one subject per function and kind:
  ``pyfaas.calls.<ns>.<fn>`` to run now, ``pyfaas.delayed.<ns>.<fn>`` with
  ``not_before`` ahead, ``pyfaas.retry.<ns>.<fn>`` waiting for the next
  attempt, callback deliveries as the function ``_.callbacks``; the old
  single subject ``pyfaas.calls`` is still claimed. A durable pull consumer
  per subject, ``ack_wait`` = the lease; claims serve them in turn
  (``_nats_lanes``) and sort what they get (``_nats_claims``);
* stream ``PYFAAS_DEAD`` for dead letters, one subject per function (``_nats_dead``);
* stream ``PYFAAS_TALLY``: per function, a running sum of the calls settled
  for good and of the callbacks that failed for good, one message each
  (rolled up), added to in groups of settles beside the final records'
  writes (``_nats_tally``); ``stats`` reads the sums, which nothing lowers;
* KV bucket ``pyfaas_calls``: each call's record, with its history, a
  retry's stream sequence (a put's is looked up: ``_nats_seqs``) and, when
  it fits, the function's answer (``_nats_records``); dedupe outlasts the
  two-minute ``Nats-Msg-Id`` window;
* KV bucket ``pyfaas_runs``: run locks, ordering a worker's start of a call
  against a cancel (``_nats_locks``), taken for a first delivery only when
  the call has a mark in stream ``PYFAAS_CANCELS`` (``_nats_cancels``);
* object store ``pyfaas_results``, made on first use, for an answer too big
  for a record: the worker caps a body at 1 MiB, NATS's default payload
  cap, and base64 in JSON makes that a third bigger.

A put is a publish and the record's create, in one flush (``_nats_puts``).
A retry is published again on the retry lane, due in a header, and the
delivery acked. Steering (cancel, results, dead letters by filter,
prune) is in ``_nats_steer``, counts in ``_nats_stats``. Publishes, record writes and
synchronous acks go through ``_nats_publish``, pulls through ``_nats_pull``,
each answered on one inbox subscription. Running records are written late,
by ``_nats_marks``; ``_nats_leases`` keeps the leases this process holds;
``_nats_errors`` says what a NATS failure means for the caller;
``_nats_reads`` reads a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import ClassVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from pyfaas.errors import QueueUnavailable
from pyfaas.queue._records import final_state
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_cancels import CancelMarks
from pyfaas.queue.backends._nats_claims import DUE, Deliveries, lane_of
from pyfaas.queue.backends._nats_dead import DeadLetters
from pyfaas.queue.backends._nats_errors import (
    ignore,
    ignore_event,
    translated,
    unavailable,
)
from pyfaas.queue.backends._nats_lanes import REFRESH, Lanes
from pyfaas.queue.backends._nats_layout import (
    RETRY,
    NatsNames,
    declare,
)
from pyfaas.queue.backends._nats_leases import Leases, still_leased
from pyfaas.queue.backends._nats_locks import Locks
from pyfaas.queue.backends._nats_marks import RunningRecords
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.backends._nats_puts import put
from pyfaas.queue.backends._nats_reads import RecordReads
from pyfaas.queue.backends._nats_steer import Steering, SteeringMethods
from pyfaas.queue.backends._nats_tally import Tallies, counts_of
from pyfaas.queue.envelope import (
    CallRecord,
    CallState,
    Delivery,
    Outcome,
    QueuedCall,
)

# A call that has run this long has its running record written.
START_NOTED_AFTER = 0.1


class NatsQueue(SteeringMethods, RecordReads):
    """The queue contract on JetStream streams, consumers, KV buckets and an object store."""

    foreign_writes: ClassVar[bool] = True  # any client may publish on the calls subject

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "",
        ack_wait: float = 30.0,
        timeout: float = 5.0,
        consumer_idle: float | None = None,
    ) -> None:
        self.url = url
        self.names = NatsNames.for_namespace(namespace)
        if consumer_idle is not None:  # tests: JetStream removes idle consumers sooner
            self.names = replace(self.names, consumer_idle=consumer_idle)
        self.leases = Leases(ack_wait)
        self._timeout = timeout
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._publisher: Publisher | None = None
        self._lanes: Lanes | None = None
        self._letters: DeadLetters | None = None
        self._locks: Locks | None = None
        self._steer: Steering | None = None
        self._tallies: Tallies | None = None
        self._marks: CancelMarks | None = None
        self._out = Deliveries(self)
        self._fetching = asyncio.Lock()
        self._running = RunningRecords(self._write, START_NOTED_AFTER)

    async def start(self) -> None:
        if self._nc is not None:
            return
        self._nc = Client()
        try:
            # Reconnect for ever once connected, but give up on a server that
            # never answered: the client alone would keep trying the first time too.
            # ``nats://a:4222,nats://b:4222``: every server of a NATS cluster,
            # so a queue started while one is down, or losing one, goes on.
            connecting = self._nc.connect(
                servers=[server.strip() for server in self.url.split(",") if server.strip()],
                connect_timeout=max(1, round(self._timeout)),
                max_reconnect_attempts=-1,
                error_cb=ignore,
                disconnected_cb=ignore_event,
                reconnected_cb=ignore_event,
            )
            await asyncio.wait_for(connecting, timeout=self._timeout)
            self._js = self._nc.jetstream(timeout=self._timeout)
            self._kv, lock_kv = await declare(self._js, self.names, self.leases.ack_wait)
            self._publisher = Publisher(self._nc, self._timeout)
            await self._publisher.start()
            self._lanes = Lanes(self._nc, self._js, self.names, self._timeout)
            self._letters = DeadLetters(self._js, self._publisher, self.names)
            self._locks = Locks(self._publisher, lock_kv, self.names.locks)
            self._tallies = Tallies(self._js, self._publisher, self.names)
            self._marks = CancelMarks(self._js, self._publisher, self.names)
            self._steer = Steering(self)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            await self.close()
            raise unavailable(self.url, exc) from exc

    async def close(self) -> None:
        await self._running.close()
        self._out.close()
        if self._tallies is not None:
            self._tallies.close()
        if self._lanes is not None and self._nc is not None and not self._nc.is_closed:
            for msg in self._lanes.take_spare():  # claimed by no one: back to the queue now
                with contextlib.suppress(nats.errors.Error):
                    await msg.nak()
        nc, self._nc = self._nc, None
        self._js = self._kv = self._publisher = self._lanes = self._letters = None
        self._locks = self._steer = self._tallies = self._marks = None
        self.leases.held.clear()
        if nc is not None and not nc.is_closed:
            await nc.close()

    # -- the parts, for this module and _nats_steer -------------------------

    def parts(self) -> tuple[JetStreamContext, KeyValue, Publisher, DeadLetters, Locks]:
        if (
            self._js is None
            or self._kv is None
            or self._publisher is None
            or self._letters is None
            or self._locks is None
        ):
            raise QueueUnavailable(f"nats queue {self.url} is not connected")
        return self._js, self._kv, self._publisher, self._letters, self._locks

    def marks(self) -> CancelMarks:
        if self._marks is None:
            raise QueueUnavailable(f"nats queue {self.url} is not connected")
        return self._marks

    def _pub(self) -> Publisher:
        return self.parts()[2]

    @property
    def max_payload(self) -> int:
        return self._nc.max_payload if self._nc is not None else 1024 * 1024

    def subject_for(self, call: QueuedCall, kind: str) -> str:
        namespace, function = lane_of(call)
        return self.names.lane(kind, namespace, function)

    # -- put ------------------------------------------------------------------

    async def put(self, call: QueuedCall) -> bool:
        return await put(self, call)

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    # -- claim ----------------------------------------------------------------

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        _js, _, _, _, _ = self.parts()
        lanes = self._lanes
        assert lanes is not None
        deadline = time.monotonic() + wait
        wake: asyncio.Event | None = None
        subs: list[Subscription] = []
        try:
            while True:
                with translated(self.url):
                    # One fetch at a time: a second would only wait for the
                    # first's messages to run out (a worker may send two claims).
                    async with self._fetching:
                        if lease != self.leases.ack_wait:
                            self.leases.ack_wait = lease
                            await lanes.set_lease(lease)
                        if lanes.stale():
                            await lanes.refresh()
                        asks = lanes.shares(limit)
                        found = await lanes.fetch(asks, lease) if asks else []
                deliveries = await self._out.hand_out(found)
                left = deadline - time.monotonic()
                if deliveries or left <= 0:
                    return deliveries
                if found:
                    lanes.again()  # all set aside or not due: the same lanes, at once
                    continue
                if wake is None:
                    # Told of every publish while waiting (and only then): a
                    # call on a lane not seen yet ends the wait at once.
                    wake = asyncio.Event()
                    subs = await lanes.watch(wake)
                    continue  # what came before the watch began, the next look sees
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(left, REFRESH))
                if wake.is_set():
                    wake.clear()
                    lanes.stale_now()
        finally:
            for sub in subs:
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()

    # -- leases and settles -----------------------------------------------------

    async def extend(self, delivery: Delivery, lease: float) -> None:
        msg, _ = self.leases.take(delivery, release=False)
        started = time.monotonic()
        with translated(self.url):
            # Answered once the server restarted the ack timer: only then may
            # the lease here be taken to last longer.
            await self._pub().request(msg.reply, b"+WPI")
        leases = self.leases
        if delivery.token in leases.held:
            leases.held[delivery.token] = (msg, leases.end(started))

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        msg, ends = self.leases.take(delivery, release=True)
        # The final record and the ack go out together (``write_then_ack``):
        # one round trip a settle, and no reply to the ack.
        await self._update(delivery, final_state(outcome), outcome, acking=(msg, ends))

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None:
        msg, ends = self.leases.take(delivery, release=True)
        held = self._out.held.pop(delivery.token, None)
        await self._running.drop(delivery.call.call_id)
        still_leased(delivery, ends)
        call = delivery.call
        headers = {
            DUE: repr(time.time() + delay),
            "Nats-Msg-Id": f"{call.call_id}.r{delivery.attempt}",
        }
        record = self._out.settle(delivery, held, CallState.RETRYING, outcome)
        with translated(self.url):
            # Again on the retry lane, due in ``delay``, then the delivery
            # acked: JetStream's delivery count would count a nak's wait.
            ack = await self._pub().publish(self.subject_for(call, RETRY), msg.data, headers)
            await self._write(record, records.Extras(seq=int(ack["seq"])))
        await self._ack(msg)

    async def bury(self, delivery: Delivery, outcome: Outcome) -> None:
        msg, ends = self.leases.take(delivery, release=True)
        namespace, function = lane_of(delivery.call)
        with translated(self.url):
            dseq = await self._dead().add(delivery.call.call_id, msg.data, namespace, function)
        await self._update(delivery, CallState.DEAD, outcome, dseq)
        still_leased(delivery, ends)
        await self._ack(msg)

    def _dead(self) -> DeadLetters:
        return self.parts()[3]

    async def _ack(self, msg: Msg) -> None:
        # Waited for: an ack still on its way makes the server hold the next
        # claim's request for what is there now (measured: half a second).
        # A delivery again after an ack that was lost is of a settled call,
        # and the claim that gets it drops it (``_nats_claims``).
        try:  # not ``translated``: a generator's context costs some µs a call
            await self._pub().request(msg.reply, b"")  # msg.ack_sync
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc

    # A first attempt's record follows from the delivery and the worker's
    # outcome alone, so it is written without reading the previous version
    # first: one round trip (a later attempt's history was read at claim).
    async def _update(
        self,
        delivery: Delivery,
        state: CallState,
        outcome: Outcome,
        dseq: int = 0,
        acking: tuple[Msg, float] | None = None,
    ) -> None:
        held = self._out.held.pop(delivery.token, None)
        await self._running.drop(delivery.call.call_id)  # never after the final record
        record = self._out.settle(delivery, held, state, outcome)
        extras = records.Extras(dseq=dseq)
        # The counts join the group being gathered and are awaited after the
        # record's write: no round trip of their own on the settle's path,
        # and one publish for the settles of a whole group (``_nats_tally``).
        tallies = self._tallies
        if tallies is None:
            raise QueueUnavailable(f"nats queue {self.url} is not connected")
        subjects = counts_of(self.names, delivery, state)
        counted = tallies.add(subjects)
        try:
            data = None
            if outcome.result is not None:
                data = await self._steering().keep_result(record, extras, outcome.result)
            if acking is None:
                await self._write(record, extras, data)
            else:
                await self._write_then_ack(delivery, record, extras, data, acking)
        except BaseException:
            tallies.withdraw(subjects, counted)  # not yet published: the settle counts once
            raise
        if counted is not None:
            try:
                await counted
            except nats.errors.Error as exc:
                raise unavailable(self.url, exc) from exc

    async def mark_running(self, delivery: Delivery) -> None:
        # Written in the background once the call has run START_NOTED_AFTER:
        # the call need not wait a round trip for it, and most calls are
        # over sooner, their final record taking its place (one write of
        # three a call saved). A look-up through this process writes it first.
        msg, _ = self.leases.take(delivery, release=False)  # NotFound for a lease already lost
        try:
            held = await self._out.started(delivery, msg)
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc
        started = self._out.before(delivery, held)  # a copy of its own
        started.state, started.started_at = CallState.RUNNING, time.time()
        self._running.note(started)

    async def _write_then_ack(
        self,
        delivery: Delivery,
        record: CallRecord,
        extras: records.Extras,
        data: bytes | None,
        acking: tuple[Msg, float],
    ) -> None:
        msg, ends = acking
        still_leased(delivery, ends)  # the result's store may have taken its last moments
        try:
            await records.write_then_ack(
                self._pub(), self.names.bucket, record, extras, msg.reply, data
            )
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc

    async def _write(
        self, record: CallRecord, extras: records.Extras | None = None, data: bytes | None = None
    ) -> None:
        pub = self._pub()
        try:
            await records.write(pub, self.names.bucket, record, extras, data=data)
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc
