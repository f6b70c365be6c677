"""How a put stores a call on NATS: its publish, and what a duplicate turns out to be.

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

import time
from typing import TYPE_CHECKING, Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from pyfaas.errors import Conflict, PayloadTooLarge, QueueUnavailable
from pyfaas.queue._records import conflicts, new_record
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_errors import delete_if_there, unavailable, uncertain
from pyfaas.queue.backends._nats_layout import CALLS, DELAYED
from pyfaas.queue.backends._nats_publish import Publisher
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
    q: NatsQueue, pub: Publisher, call: QueuedCall, payload: bytes, subject: str
) -> dict[str, Any]:
    """The stream's ack of the call; ``QueueUncertain`` once it may be stored unacked."""
    headers = {"Nats-Msg-Id": call.call_id}
    unanswered: BaseException | None = None
    for _ in range(PUBLISH_TRIES):
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


async def put(q: NatsQueue, call: QueuedCall) -> bool:
    """Store ``call``: a publish and its record's create; False if its id is stored."""
    js, _, pub, _, _ = q.parts()
    payload = call.encode()
    if len(payload) > q.max_payload:
        raise PayloadTooLarge(f"call is {len(payload)} bytes, NATS takes at most {q.max_payload}")
    record = new_record(call)
    kind = DELAYED if record.state is CallState.DELAYED else CALLS
    # Two round trips, not three: the stream's Nats-Msg-Id window
    # catches a resubmission first; the record's create catches a
    # later one, and the message just published for it is taken back.
    ack = await publish_call(q, pub, call, payload, q.subject_for(call, kind))
    extras = records.Extras(seq=int(ack.get("seq", 0)))
    try:
        if ack.get("duplicate"):
            # Maybe stored by a put that could not tell and left no
            # record: a round trip more, on this path only.
            if not await records.create(pub, q.names.bucket, record, extras):
                await refuse_other(q, call)
                return False
            return await again_if_gone(q, js, pub, call, payload, ack)
        if await records.create(pub, q.names.bucket, record, extras):
            return True
        stored = await q.read(call.call_id)
        if stored is None or stored[0].submitted_at != call.submitted_at:
            # Another call's record: this message goes; a fast worker's
            # record of this very call keeps it.
            await delete_if_there(js, q.names.stream, int(ack["seq"]))
            if stored is not None and conflicts(stored[0].fingerprint, call.fingerprint):
                raise Conflict(f"call ID {call.call_id} is taken by another call")
            return False
    except nats.errors.Error as exc:
        # The call is stored: a 503 that said it was not would be a lie.
        raise uncertain(q.url, call, exc) from exc
    return True
