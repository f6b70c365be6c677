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

Publishes, record writes and synchronous acks go through ``_nats_publish``,
claims through ``_nats_pull``: each is answered on one inbox subscription,
at a fraction of nats-py's own request and fetch costs per call.

JetStream has one ack wait per consumer, not per claim, so ``claim(lease=...)``
sets the consumer's ``ack_wait``: every worker sharing a queue should use the
same lease. ``extend`` restarts the ack timer at the full ``ack_wait``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from pyfaas.errors import NotFound, PayloadTooLarge, QueueUnavailable
from pyfaas.queue._records import final_state, new_record, settled
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.backends._nats_pull import Puller
from pyfaas.queue.base import QueueStats
from pyfaas.queue.envelope import CallRecord, CallState, Delivery, Outcome, QueuedCall

T = TypeVar("T")

# A call that has run this long has its running record written.
START_NOTED_AFTER = 0.1

# JetStream's "wrong last sequence" error codes: the record already exists.
_WRONG_LAST_SEQUENCE = (10071, 10164)


@dataclass(frozen=True)
class NatsNames:
    stream: str
    subject: str
    consumer: str
    dead_stream: str
    dead_subject: str  # prefix; one subject per call under it
    bucket: str

    @classmethod
    def for_namespace(cls, namespace: str = "") -> NatsNames:
        suffix = f"_{namespace.upper()}" if namespace else ""
        base = f"pyfaas.{namespace}" if namespace else "pyfaas"
        return cls(
            stream=f"PYFAAS_CALLS{suffix}",
            subject=f"{base}.calls",
            consumer=f"pyfaas-worker-{namespace}" if namespace else "pyfaas-worker",
            dead_stream=f"PYFAAS_DEAD{suffix}",
            dead_subject=f"{base}.dead",
            bucket=f"pyfaas_calls{suffix.lower()}",
        )


class NatsQueue:
    """The queue contract on a JetStream stream, consumer and KV bucket."""

    def __init__(
        self, url: str, *, namespace: str = "", ack_wait: float = 30.0, timeout: float = 5.0
    ) -> None:
        self.url = url
        self.names = NatsNames.for_namespace(namespace)
        self._ack_wait = ack_wait
        self._timeout = timeout
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._publisher: Publisher | None = None
        self._puller: Puller | None = None
        self._held: dict[str, Msg] = {}  # token -> message leased by this process
        self._fetching = asyncio.Lock()
        # call id -> the write of its running record, still in flight
        self._marking: dict[str, asyncio.Task[None]] = {}
        # call id -> its running record, not yet written, and the timer that will
        self._unmarked: dict[str, tuple[asyncio.TimerHandle, CallRecord]] = {}

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
                error_cb=_ignore,
                disconnected_cb=_ignore_event,
                reconnected_cb=_ignore_event,
            )
            await asyncio.wait_for(connecting, timeout=self._timeout)
            self._js = self._nc.jetstream(timeout=self._timeout)
            await self._declare(self._js)
            self._publisher = Publisher(self._nc, self._timeout)
            await self._publisher.start()
            self._puller = Puller(self._nc, self.names.stream, self.names.consumer, self._timeout)
            await self._puller.start()
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            await self.close()
            raise QueueUnavailable(f"nats queue {self.url}: {_describe(exc)}") from exc

    async def _declare(self, js: JetStreamContext) -> None:
        """Create what is missing; several processes may do this at once."""
        n = self.names
        await _made_or_found(
            lambda: js.add_stream(
                name=n.stream,
                subjects=[n.subject],
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.WORK_QUEUE,
            ),
            lambda: js.stream_info(n.stream),
        )
        await _made_or_found(
            lambda: js.add_stream(
                name=n.dead_stream, subjects=[f"{n.dead_subject}.*"], storage=api.StorageType.FILE
            ),
            lambda: js.stream_info(n.dead_stream),
        )
        self._kv = await _made_or_found(
            lambda: js.create_key_value(bucket=n.bucket, history=1, storage=api.StorageType.FILE),
            lambda: js.key_value(n.bucket),
        )
        try:
            await js.consumer_info(n.stream, n.consumer)
        except nats.js.errors.NotFoundError:
            await _made_or_found(
                lambda: js.add_consumer(n.stream, config=self._consumer_config()),
                lambda: js.consumer_info(n.stream, n.consumer),
            )

    def _consumer_config(self) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            durable_name=self.names.consumer,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self._ack_wait,
            max_deliver=-1,
            max_ack_pending=-1,
            filter_subject=self.names.subject,
        )

    async def close(self) -> None:
        unmarked, self._unmarked = list(self._unmarked.values()), {}
        for timer, _ in unmarked:
            timer.cancel()  # a call still running: its settle or its redelivery says more
        marking, self._marking = list(self._marking.values()), {}
        await asyncio.gather(*marking, return_exceptions=True)  # running records still on the way
        if self._puller is not None and self._nc is not None and not self._nc.is_closed:
            for msg in self._puller.take_spare():  # claimed by no one: back to the queue now
                with contextlib.suppress(nats.errors.Error):
                    await msg.nak()
        nc, self._nc = self._nc, None
        self._js = self._kv = self._publisher = self._puller = None
        self._held.clear()
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
        key = records.key_for(call.call_id)
        payload = call.encode()
        assert self._nc is not None
        if len(payload) > self._nc.max_payload:
            raise PayloadTooLarge(
                f"call is {len(payload)} bytes, NATS takes at most {self._nc.max_payload}"
            )
        try:
            # Two round trips, not three: the stream's Nats-Msg-Id window
            # catches a resubmission first; the record's create catches a
            # later one, and the message just published for it is taken back.
            ack = await pub.publish(self.names.subject, payload, {"Nats-Msg-Id": call.call_id})
            if ack.get("duplicate"):
                return False
            try:
                await pub.publish(
                    self._record_subject(key),
                    records.encode(new_record(call)),
                    {"Nats-Expected-Last-Subject-Sequence": "0"},  # create, never overwrite
                )
            except nats.js.errors.APIError as exc:
                if exc.err_code not in _WRONG_LAST_SEQUENCE:
                    raise
                if not await self._ours(kv, key, call):
                    await js.delete_msg(self.names.stream, ack["seq"])
                    return False
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc
        return True

    def _record_subject(self, key: str) -> str:
        return f"$KV.{self.names.bucket}.{key}"

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        js, _, puller = self._parts()
        try:
            # One fetch at a time: a second would only wait for the first's
            # messages to run out (a worker may send two claims).
            async with self._fetching:
                if lease != self._ack_wait:
                    self._ack_wait = lease
                    await js.add_consumer(self.names.stream, config=self._consumer_config())
                messages = await puller.fetch(limit, wait)
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc
        deliveries = []
        for msg in messages:
            token = msg.reply
            self._held[token] = msg
            call = QueuedCall.decode(msg.data)
            deliveries.append(Delivery(call, attempt=msg.metadata.num_delivered, token=token))
        return deliveries

    def _msg(self, delivery: Delivery, *, release: bool) -> Msg:
        msg = self._held.pop(delivery.token, None) if release else self._held.get(delivery.token)
        if msg is None:
            raise NotFound(f"lease on call {delivery.call.call_id} was lost")
        return msg

    async def extend(self, delivery: Delivery, lease: float) -> None:
        msg = self._msg(delivery, release=False)
        try:
            await msg.in_progress()
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        msg = self._msg(delivery, release=True)
        await self._update(delivery, final_state(outcome), outcome)
        await self._ack(msg)

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None:
        msg = self._msg(delivery, release=True)
        await self._update(delivery, CallState.RETRYING, outcome)
        try:
            await msg.nak(delay=delay)
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc

    async def bury(self, delivery: Delivery, outcome: Outcome) -> None:
        js, _, _ = self._parts()
        msg = self._msg(delivery, release=True)
        key = records.key_for(delivery.call.call_id)
        try:
            await js.publish(f"{self.names.dead_subject}.{key}", msg.data)
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc
        await self._update(delivery, CallState.DEAD, outcome)
        await self._ack(msg)

    async def _ack(self, msg: Msg) -> None:
        pub = self._pub()
        try:
            await pub.request(msg.reply, b"")  # msg.ack_sync, answered when the ack is stored
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc

    # A record follows from the delivery and the worker's outcome alone, so
    # it is written without reading the previous version first: one round trip.
    async def _update(self, delivery: Delivery, state: CallState, outcome: Outcome) -> None:
        await self._marked(delivery.call.call_id, settling=True)  # never after the final record
        current = replace(new_record(delivery.call), attempts=delivery.attempt)
        await self._write(settled(current, state, outcome, time.time()))

    async def mark_running(self, delivery: Delivery) -> None:
        # Written in the background once the call has run START_NOTED_AFTER:
        # the call need not wait a round trip for it, and most calls are
        # over sooner, their final record taking its place (one write of
        # three a call saved). A look-up through this process writes it first.
        self._msg(delivery, release=False)
        started = replace(
            new_record(delivery.call),
            state=CallState.RUNNING,
            attempts=delivery.attempt,
            started_at=time.time(),
        )
        call_id = delivery.call.call_id
        loop = asyncio.get_running_loop()
        timer = loop.call_later(START_NOTED_AFTER, self._start_marking, call_id)
        self._unmarked[call_id] = (timer, started)

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

    async def _marked(self, call_id: str, *, settling: bool = False) -> None:
        """Wait for this process's running record of ``call_id``, if still being written.

        One not yet begun is written now, or dropped when the call is being
        settled: the final record says all it would have.
        """
        if settling:
            self._unmark(call_id)
        else:
            self._start_marking(call_id)
        marking = self._marking.get(call_id)
        if marking is not None:
            await asyncio.gather(marking, return_exceptions=True)

    async def _write(self, record: CallRecord) -> None:
        pub = self._pub()
        try:
            await pub.publish(
                self._record_subject(records.key_for(record.call_id)), records.encode(record)
            )
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc

    async def record(self, call_id: str) -> CallRecord | None:
        await self._marked(call_id)
        _, kv, _ = self._parts()
        try:
            data = await self._get(kv, records.key_for(call_id))
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc
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
        js, _, _ = self._parts()
        found: list[CallRecord] = []
        try:
            info = await js.stream_info(self.names.dead_stream)
            seq = info.state.last_seq
            # Replayed letters leave gaps: walk back from the newest until enough.
            while seq >= max(info.state.first_seq, 1) and len(found) < limit:
                raw = await self._dead_message(js, seq)
                seq -= 1
                if raw is None:
                    continue
                record = await self.record(QueuedCall.decode(raw).call_id)
                if record is not None and record.state is CallState.DEAD:
                    found.append(record)
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc
        return found

    async def _dead_message(self, js: JetStreamContext, seq: int) -> bytes | None:
        try:
            msg = await js.get_msg(self.names.dead_stream, seq=seq)
        except nats.js.errors.NotFoundError:
            return None
        return msg.data

    async def replay(self, call_id: str) -> None:
        js, _, _ = self._parts()
        subject = f"{self.names.dead_subject}.{records.key_for(call_id)}"
        try:
            try:
                dead = await js.get_last_msg(self.names.dead_stream, subject)
            except nats.js.errors.NotFoundError:
                raise NotFound(f"no dead letter with call id {call_id}") from None
            assert dead.data is not None
            call = QueuedCall.decode(dead.data)
            current = await self.record(call_id) or new_record(call)
            await self._write(
                replace(current, state=CallState.QUEUED, attempts=0, finished_at=None)
            )
            # No Nats-Msg-Id: a replay must not be mistaken for the original put.
            await js.publish(self.names.subject, dead.data)
            await js.purge_stream(self.names.dead_stream, subject=subject)
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc

    async def stats(self) -> QueueStats:
        js, _, _ = self._parts()
        try:
            consumer = await js.consumer_info(self.names.stream, self.names.consumer)
            dead = await js.stream_info(self.names.dead_stream)
        except nats.errors.Error as exc:
            raise self._unavailable(exc) from exc
        running = consumer.num_ack_pending or 0
        return QueueStats(
            queued=consumer.num_pending or 0, running=running, dead=dead.state.messages
        )

    def _unavailable(self, exc: BaseException) -> QueueUnavailable:
        return QueueUnavailable(f"nats queue {self.url}: {_describe(exc)}")


async def _made_or_found(make: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T]]) -> T:
    """Create something, or take the one another process created at the same moment.

    JetStream can answer a create that races another's with a 400 ("subjects
    overlap with an existing stream") rather than with what was created.
    """
    try:
        return await make()
    except nats.js.errors.BadRequestError:
        return await find()


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


async def _ignore(exc: Exception) -> None:
    """The client reconnects on its own; failing calls raise ``QueueUnavailable``."""


async def _ignore_event() -> None:
    pass
