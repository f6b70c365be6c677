"""How a put stores a call on NATS: its publish, and what a duplicate turns out to be.

The call's publish and its record's create go out in one flush and are
answered in one round trip. The record is created without the call's
stream sequence, which only the publish's ack tells, and is not written
again to add it (a third write a put, which measured slower than the two
round trips): a cancel finds a queued call's message itself (``_nats_seqs``).

A publish not acknowledged in time may still be stored (the client holds
what it could not send and sends it on reconnecting): it is tried again
with the same ``Nats-Msg-Id``, which the stream stores once, and if that is
not acknowledged either the put raises ``QueueUncertain``. A put while
disconnected stores nothing and says so at once. A publish the stream calls
a duplicate is a call stored before: by this id's first put (the record
says so, and a fingerprint that differs is a ``Conflict``), by a put that
could not tell and left no record, or by a call since pruned, whose id may
be used again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from pyfaas.errors import Conflict, PayloadTooLarge, QueueUnavailable
from pyfaas.queue._records import conflicts, new_record
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_errors import delete_if_there, unavailable, uncertain
from pyfaas.queue.backends._nats_layout import CALLS, DELAYED
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.backends._nats_seqs import undelivered_seq
from pyfaas.queue.envelope import CallState, QueuedCall

if TYPE_CHECKING:
    from pyfaas.queue.backends.nats import NatsQueue

# A publish of a call not acknowledged in time is sent this many times in all.
PUBLISH_TRIES = 2


async def again_if_gone(
    q: NatsQueue,
    js: JetStreamContext,
    pub: Publisher,
    call: QueuedCall,
    payload: bytes,
    ack: dict[str, Any],
) -> bool:
    """A duplicate with no record: stored by an uncertain put, or a pruned call's id.

    The first is still in the stream (False: it runs once); the second
    ran and went, and its id may be used again: published anew.
    """
    try:
        await js.get_msg(q.names.stream, seq=int(ack["seq"]))
        return False
    except nats.js.errors.NotFoundError:
        pass
    kind = DELAYED if call.not_before > time.time() else CALLS
    headers = {"Nats-Msg-Id": f"{call.call_id}.{time.time_ns()}"}
    again = await pub.publish(q.subject_for(call, kind), payload, headers)
    stored = await q.read(call.call_id)
    if stored is not None:
        extras = records.Extras(seq=int(again["seq"]))
        await records.write(pub, q.names.bucket, stored[0], extras, stored[1].revision)
    return True


async def refuse_other(q: NatsQueue, call: QueuedCall) -> None:
    stored = await q.read(call.call_id)
    if stored is not None and conflicts(stored[0].fingerprint, call.fingerprint):
        raise Conflict(f"call ID {call.call_id} is taken by another call")


async def publish_call(
    q: NatsQueue,
    pub: Publisher,
    call: QueuedCall,
    payload: bytes,
    subject: str,
    tries: int = PUBLISH_TRIES,
    unanswered: BaseException | None = None,
) -> dict[str, Any]:
    """The stream's ack of the call; ``QueueUncertain`` once it may be stored unacked.

    ``unanswered``: a first publish already sent and not acknowledged in time.
    """
    headers = {"Nats-Msg-Id": call.call_id}
    for _ in range(tries):
        # Disconnected, nats-py would hold the message and send it on
        # reconnecting: a call answered 503 would run after all.
        if not q.connected:
            break
        try:
            return await pub.publish(subject, payload, headers)
        except nats.errors.TimeoutError as exc:
            unanswered = exc  # sent, and maybe stored with its ack lost
        except nats.errors.Error as exc:
            if unanswered is None:
                raise unavailable(q.url, exc) from exc
            break
    if unanswered is not None:
        raise uncertain(q.url, call, unanswered)
    raise QueueUnavailable(f"nats queue {q.url}: not connected; the call was not stored")


async def _send_both(
    q: NatsQueue, pub: Publisher, call: QueuedCall, payload: bytes, subject: str, data: bytes
) -> tuple[asyncio.Future[Msg], asyncio.Future[Msg] | None]:
    """The call's publish and its record's create, sent in one flush; their replies to come.

    No create future when the create could not be sent: it is made after the ack.
    """
    if not q.connected:
        raise QueueUnavailable(f"nats queue {q.url}: not connected; the call was not stored")
    try:
        published = await pub.send(subject, payload, {"Nats-Msg-Id": call.call_id})
    except nats.errors.Error as exc:
        raise unavailable(q.url, exc) from exc
    creating = None
    with contextlib.suppress(nats.errors.Error):
        key = records.subject_for(q.names.bucket, call.call_id)
        creating = await pub.send(key, data, records.CREATE)
    return published, creating


async def _acked(
    q: NatsQueue,
    pub: Publisher,
    call: QueuedCall,
    payload: bytes,
    subject: str,
    published: asyncio.Future[Msg],
) -> dict[str, Any]:
    """The publish's ack; after a time-out, the publish again (``publish_call``)."""
    try:
        return pub.ack_of(await published)
    except nats.errors.TimeoutError as exc:
        return await publish_call(q, pub, call, payload, subject, PUBLISH_TRIES - 1, exc)
    except nats.errors.Error as exc:
        raise unavailable(q.url, exc) from exc


async def _take_back(
    q: NatsQueue, js: JetStreamContext, creating: asyncio.Future[Msg] | None
) -> None:
    """The record created beside a publish that failed: gone, as if the put never came.

    A put that could not tell left no record before its create was sent
    with the publish: the duplicate path above expects none.
    """
    if creating is None:
        return
    with contextlib.suppress(nats.errors.Error):
        revision = records.created(await creating)
        if revision:
            await delete_if_there(js, f"KV_{q.names.bucket}", revision)


async def put(q: NatsQueue, call: QueuedCall) -> bool:
    """Store ``call``: a publish and its record's create in one flush; False if its id is stored."""
    js, _, pub, _, _ = q.parts()
    payload = call.encode()
    if len(payload) > q.max_payload:
        raise PayloadTooLarge(f"call is {len(payload)} bytes, NATS takes at most {q.max_payload}")
    record = new_record(call)
    kind = DELAYED if record.state is CallState.DELAYED else CALLS
    subject = q.subject_for(call, kind)
    data = records.encode(record)
    # One round trip: the stream's Nats-Msg-Id window catches a
    # resubmission; the record's create catches a later one, and the
    # message just published for it is taken back.
    published, creating = await _send_both(q, pub, call, payload, subject, data)
    try:
        ack = await _acked(q, pub, call, payload, subject, published)
    except QueueUnavailable:
        await _take_back(q, js, creating)
        raise
    try:
        if creating is None:  # not sent with the publish: sent now
            key = records.subject_for(q.names.bucket, call.call_id)
            creating = await pub.send(key, data, records.CREATE)
        revision = records.created(await creating)
        return await _settle_put(q, js, pub, call, payload, ack, revision)
    except nats.errors.Error as exc:
        # The call is stored: a 503 that said it was not would be a lie.
        raise uncertain(q.url, call, exc) from exc


async def _settle_put(
    q: NatsQueue,
    js: JetStreamContext,
    pub: Publisher,
    call: QueuedCall,
    payload: bytes,
    ack: dict[str, Any],
    revision: int,
) -> bool:
    """What the two answers make of the put: stored (True), or stored before (False)."""
    seq = int(ack.get("seq", 0))
    if ack.get("duplicate"):
        if not revision:
            await refuse_other(q, call)
            return False
        # Stored by a put that could not tell and left no record, or a pruned call's id.
        return await again_if_gone(q, js, pub, call, payload, ack)
    if revision:
        return True
    stored = await q.read(call.call_id)
    if stored is None or stored[0].submitted_at != call.submitted_at:
        if stored is not None and conflicts(stored[0].fingerprint, call.fingerprint):
            await delete_if_there(js, q.names.stream, seq)
            raise Conflict(f"call ID {call.call_id} is taken by another call")
        if stored is not None and await _orphaned(q, call, stored[0].state, seq):
            return False  # this message is the stored call's only one now: it runs once
        # Another call's record: this message goes; a fast worker's
        # record of this very call keeps it.
        await delete_if_there(js, q.names.stream, seq)
        return False
    return True


async def _orphaned(q: NatsQueue, call: QueuedCall, state: CallState, ours: int) -> bool:
    """Whether a queued record has no message of its own: a put's publish failed
    and so did its record's take-back (NATS electing leaders, say). Without
    this a resubmission of its id, answered as stored before, would never run.

    Asked only of a resubmission the ``Nats-Msg-Id`` window no longer
    catches; a call queued that long has its message among its lane's
    undelivered ones, unless a worker holds it, and then it may run twice,
    which an at-least-once queue allows and a lost call it does not.
    """
    if state is not CallState.QUEUED:
        return False
    # The first undelivered message of the id: an older one before the one just published.
    first = await undelivered_seq(q, call.call_id, q.subject_for(call, CALLS))
    return first in (0, ours)
