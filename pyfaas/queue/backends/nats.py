"""The NATS JetStream queue: shared by any number of gateways and workers on any machines.

Layout (names get a suffix when a ``namespace`` is given, so that several
queues, e.g. tests, share one server):

* stream ``PYFAAS_CALLS`` on subject ``pyfaas.calls``, file storage, work-queue
  retention: a call is deleted once acked, so the stream holds exactly the
  calls not yet settled;
* durable pull consumer ``pyfaas-worker``, explicit ack, ``ack_wait`` = the
  lease, unlimited redeliveries; ``num_delivered`` is the attempt;
* stream ``PYFAAS_DEAD`` on ``pyfaas.dead.<key>`` (limits retention) for
  dead letters; ``replay`` republishes one and purges it there;
* KV bucket ``pyfaas_calls``: the record of each call by call id, which also
  makes dedupe outlast JetStream's two-minute ``Nats-Msg-Id`` window.

The names and their declaration are in ``_nats_layout``. Publishes, record
writes and synchronous acks go through ``_nats_publish``, claims through
``_nats_pull``: each is answered on one inbox subscription, at a fraction of
nats-py's own request and fetch costs per call. Running records are written
late, by ``_nats_marks``. A claim is a lease on its message: ``_nats_leases``
keeps the ones this process holds and says when each counts as lost;
``_nats_errors`` says what a NATS failure means for the caller.

A put's publish that is not acknowledged in time may still be stored (the
client holds what it could not send and sends it on reconnecting): it is
tried again with the same ``Nats-Msg-Id``, which the stream stores once, and
if that is not acknowledged either the put raises ``QueueUncertain``. A put
while disconnected stores nothing and says so at once. A message on the
calls subject that holds no call is set aside by ``claim`` as a dead letter
(``_nats_dead``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import Any, ClassVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from pyfaas.errors import NotFound, PayloadTooLarge, QueueUnavailable
from pyfaas.queue._records import decode_call, final_state, new_record, settled
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_dead import DeadLetters
from pyfaas.queue.backends._nats_errors import ignore, ignore_event, unavailable, uncertain
from pyfaas.queue.backends._nats_layout import NatsNames, consumer_config, declare
from pyfaas.queue.backends._nats_leases import Leases, still_leased
from pyfaas.queue.backends._nats_marks import RunningRecords
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.backends._nats_pull import Puller
from pyfaas.queue.base import QueueStats
from pyfaas.queue.envelope import CallRecord, CallState, Delivery, Outcome, QueuedCall

# A call that has run this long has its running record written.
START_NOTED_AFTER = 0.1

# A publish of a call not acknowledged in time is sent this many times in all.
PUBLISH_TRIES = 2


class NatsQueue:
    """The queue contract on a JetStream stream, consumer and KV bucket."""

    foreign_writes: ClassVar[bool] = True  # any client may publish on the calls subject

    def __init__(
        self, url: str, *, namespace: str = "", ack_wait: float = 30.0, timeout: float = 5.0
    ) -> None:
        self.url = url
        self.names = NatsNames.for_namespace(namespace)
        self._leases = Leases(ack_wait)
        self._timeout = timeout
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._publisher: Publisher | None = None
        self._puller: Puller | None = None
        self._letters: DeadLetters | None = None
        self._fetching = asyncio.Lock()
        self._running = RunningRecords(self._write, START_NOTED_AFTER)

    async def start(self) -> None:
        if self._nc is not None:
            return
        self._nc = Client()
        try:
            # Reconnect for ever once connected, but give up on a server that
            # never answered: the client alone would keep trying the first time too.
            connecting = self._nc.connect(
                self.url,
                connect_timeout=max(1, round(self._timeout)),
                max_reconnect_attempts=-1,
                error_cb=ignore,
                disconnected_cb=ignore_event,
                reconnected_cb=ignore_event,
            )
            await asyncio.wait_for(connecting, timeout=self._timeout)
            self._js = self._nc.jetstream(timeout=self._timeout)
            self._kv = await declare(self._js, self.names, self._leases.ack_wait)
            self._publisher = Publisher(self._nc, self._timeout)
            await self._publisher.start()
            self._puller = Puller(self._nc, self.names.stream, self.names.consumer, self._timeout)
            await self._puller.start()
            self._letters = DeadLetters(self._js, self._publisher, self.names)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            await self.close()
            raise unavailable(self.url, exc) from exc

    async def close(self) -> None:
        await self._running.close()
        if self._puller is not None and self._nc is not None and not self._nc.is_closed:
            for msg in self._puller.take_spare():  # claimed by no one: back to the queue now
                with contextlib.suppress(nats.errors.Error):
                    await msg.nak()
        nc, self._nc = self._nc, None
        self._js = self._kv = self._publisher = self._puller = self._letters = None
        self._leases.held.clear()
        if nc is not None and not nc.is_closed:
            await nc.close()

    def _parts(self) -> tuple[JetStreamContext, KeyValue, Puller]:
        if self._js is None or self._kv is None or self._puller is None:
            raise QueueUnavailable(f"nats queue {self.url} is not connected")
        return self._js, self._kv, self._puller

    def _pub(self) -> Publisher:
        if self._publisher is None:
            raise QueueUnavailable(f"nats queue {self.url} is not connected")
        return self._publisher

    async def put(self, call: QueuedCall) -> bool:
        js, kv, _ = self._parts()
        pub = self._pub()
        payload = call.encode()
        assert self._nc is not None
        if len(payload) > self._nc.max_payload:
            raise PayloadTooLarge(
                f"call is {len(payload)} bytes, NATS takes at most {self._nc.max_payload}"
            )
        # Two round trips, not three: the stream's Nats-Msg-Id window
        # catches a resubmission first; the record's create catches a
        # later one, and the message just published for it is taken back.
        ack = await self._publish_call(pub, call, payload)
        try:
            if ack.get("duplicate"):
                # Maybe stored by a put that could not tell and left no
                # record: a round trip more, on this path only.
                await records.create(pub, self.names.bucket, new_record(call))
                return False
            if await records.create(pub, self.names.bucket, new_record(call)):
                return True
            key = records.key_for(call.call_id)
            if not await self._ours(kv, key, call):
                await js.delete_msg(self.names.stream, ack["seq"])
                return False
        except nats.errors.Error as exc:
            # The call is stored: a 503 that said it was not would be a lie.
            raise uncertain(self.url, call, exc) from exc
        return True

    async def _publish_call(
        self, pub: Publisher, call: QueuedCall, payload: bytes
    ) -> dict[str, Any]:
        """The stream's ack of the call; ``QueueUncertain`` once it may be stored unacked."""
        headers = {"Nats-Msg-Id": call.call_id}
        unanswered: BaseException | None = None
        for _ in range(PUBLISH_TRIES):
            # Disconnected, nats-py would hold the message and send it on
            # reconnecting: a call answered 503 would run after all.
            if not self.connected:
                break
            try:
                return await pub.publish(self.names.subject, payload, headers)
            except nats.errors.TimeoutError as exc:
                unanswered = exc  # sent, and maybe stored with its ack lost
            except nats.errors.Error as exc:
                if unanswered is None:
                    raise unavailable(self.url, exc) from exc
                break
        if unanswered is not None:
            raise uncertain(self.url, call, unanswered)
        raise QueueUnavailable(f"nats queue {self.url}: not connected; the call was not stored")

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def _record_subject(self, key: str) -> str:
        return f"$KV.{self.names.bucket}.{key}"

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        js, _, puller = self._parts()
        leases = self._leases
        deadline = time.monotonic() + wait
        while True:
            try:
                # One fetch at a time: a second would only wait for the first's
                # messages to run out (a worker may send two claims).
                async with self._fetching:
                    if lease != leases.ack_wait:
                        leases.ack_wait = lease
                        config = consumer_config(self.names, lease)
                        await js.add_consumer(self.names.stream, config=config)
                    left = max(deadline - time.monotonic(), 0.0)
                    messages, since = await puller.fetch(limit, left)
            except nats.errors.Error as exc:
                raise unavailable(self.url, exc) from exc
            ends = leases.end(since)
            deliveries, undecodable = [], []
            for msg in messages:
                call = decode_call(msg.data)
                if call is None:
                    undecodable.append(msg)
                    continue
                token = msg.reply
                leases.held[token] = (msg, ends)
                deliveries.append(Delivery(call, attempt=msg.metadata.num_delivered, token=token))
            for msg in undecodable:
                await self._dead().set_aside(msg)
            if deliveries or not undecodable:
                return deliveries

    def _dead(self) -> DeadLetters:
        if self._letters is None:
            raise QueueUnavailable(f"nats queue {self.url} is not connected")
        return self._letters

    async def extend(self, delivery: Delivery, lease: float) -> None:
        msg, _ = self._leases.take(delivery, release=False)
        started = time.monotonic()
        try:
            # Answered once the server restarted the ack timer: only then may
            # the lease here be taken to last longer.
            await self._pub().request(msg.reply, b"+WPI")
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc
        leases = self._leases
        if delivery.token in leases.held:
            leases.held[delivery.token] = (msg, leases.end(started))

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        msg, ends = self._leases.take(delivery, release=True)
        await self._update(delivery, final_state(outcome), outcome)
        still_leased(delivery, ends)
        await self._ack(msg)

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None:
        msg, ends = self._leases.take(delivery, release=True)
        await self._update(delivery, CallState.RETRYING, outcome)
        still_leased(delivery, ends)
        try:
            await msg.nak(delay=delay)
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc

    async def bury(self, delivery: Delivery, outcome: Outcome) -> None:
        msg, ends = self._leases.take(delivery, release=True)
        try:
            await self._dead().add(delivery.call.call_id, msg.data)
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc
        await self._update(delivery, CallState.DEAD, outcome)
        still_leased(delivery, ends)
        await self._ack(msg)

    async def _ack(self, msg: Msg) -> None:
        pub = self._pub()
        try:
            await pub.request(msg.reply, b"")  # msg.ack_sync, answered when the ack is stored
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc

    # A record follows from the delivery and the worker's outcome alone, so
    # it is written without reading the previous version first: one round trip.
    async def _update(self, delivery: Delivery, state: CallState, outcome: Outcome) -> None:
        await self._running.drop(delivery.call.call_id)  # never after the final record
        current = replace(new_record(delivery.call), attempts=delivery.attempt)
        await self._write(settled(current, state, outcome, time.time()))

    async def mark_running(self, delivery: Delivery) -> None:
        # Written in the background once the call has run START_NOTED_AFTER:
        # the call need not wait a round trip for it, and most calls are
        # over sooner, their final record taking its place (one write of
        # three a call saved). A look-up through this process writes it first.
        self._leases.take(delivery, release=False)  # NotFound for a lease already lost
        started = replace(
            new_record(delivery.call),
            state=CallState.RUNNING,
            attempts=delivery.attempt,
            started_at=time.time(),
        )
        self._running.note(started)

    async def _write(self, record: CallRecord) -> None:
        pub = self._pub()
        try:
            await pub.publish(
                self._record_subject(records.key_for(record.call_id)), records.encode(record)
            )
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc

    async def record(self, call_id: str) -> CallRecord | None:
        await self._running.flush(call_id)
        _, kv, _ = self._parts()
        try:
            data = await self._get(kv, records.key_for(call_id))
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc
        return None if data is None else records.decode(data)

    async def _ours(self, kv: KeyValue, key: str, call: QueuedCall) -> bool:
        """Whether the record under ``key`` is this submission's, written by a fast worker."""
        data = await self._get(kv, key)
        return data is not None and records.decode(data).submitted_at == call.submitted_at

    async def _get(self, kv: KeyValue, key: str) -> bytes | None:
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        return entry.value

    async def dead_letters(self, limit: int = 100) -> list[CallRecord]:
        found: list[CallRecord] = []
        try:
            # Replayed letters leave gaps and records change: newest first, until enough.
            async for call_id in self._dead().newest():
                record = await self.record(call_id)
                if record is not None and record.state is CallState.DEAD:
                    found.append(record)
                    if len(found) >= limit:
                        break
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc
        return found

    async def replay(self, call_id: str) -> None:
        js, _, _ = self._parts()
        letters = self._dead()
        try:
            data = await letters.take(call_id)
            if data is None:
                raise NotFound(f"no dead letter with call id {call_id}")
            call = decode_call(data)
            # One that holds no call keeps its record: the next claim sets it aside anew.
            current = await self.record(call_id) if call is not None else None
            if call is not None:
                await self._write(
                    replace(
                        current or new_record(call),
                        state=CallState.QUEUED,
                        attempts=0,
                        finished_at=None,
                    )
                )
            # No Nats-Msg-Id: a replay must not be mistaken for the original put.
            await js.publish(self.names.subject, data)
            await letters.remove(call_id)
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc

    async def stats(self) -> QueueStats:
        js, _, _ = self._parts()
        try:
            consumer = await js.consumer_info(self.names.stream, self.names.consumer)
            dead = await js.stream_info(self.names.dead_stream)
        except nats.errors.Error as exc:
            raise unavailable(self.url, exc) from exc
        running = consumer.num_ack_pending or 0
        return QueueStats(
            queued=consumer.num_pending or 0, running=running, dead=dead.state.messages
        )
