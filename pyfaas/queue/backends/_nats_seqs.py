"""Where a queued call's message is in the calls stream, for a record that does not say.

A put creates the call's record in the flush that publishes the call
(``_nats_puts``), before the stream has given the message its sequence,
and writes no second version to add it: the record of a queued call holds
no ``seq``. A cancel needs it, to ask whether a worker has the message yet
and to delete it; it is found here, in one of two ways:

* ``stored_seq``, while the stream's ``Nats-Msg-Id`` window (two minutes)
  holds the call's id: a publish of that id expecting a last sequence no
  stream reaches is answered as a duplicate, with the first message's
  sequence, and anything else is refused unstored. One request.
* ``undelivered_seq``, after it: the call's lane is read from the first
  message its consumer has not delivered yet; the call's message is among
  those if no worker has it. One request a message of the lane's backlog
  ahead of the call, for a cancel of a call queued that long.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors

if TYPE_CHECKING:
    from pyfaas.queue.backends.nats import NatsQueue

# A sequence no stream reaches: a probe with it is answered, never stored.
_NEVER = str(2**64 - 1)


async def stored_seq(q: NatsQueue, call_id: str) -> int:
    """The sequence of ``call_id``'s first message, while the ``Nats-Msg-Id`` window holds it.

    0 once the window forgot the id (or it was never stored).
    """
    _, _, pub, _, _ = q.parts()
    headers = {"Nats-Msg-Id": call_id, "Nats-Expected-Last-Sequence": _NEVER}
    reply = await pub.request(q.names.subject, b"", headers)
    try:
        ack = pub.ack_of(reply)
    except nats.js.errors.APIError:
        return 0
    return int(ack.get("seq") or 0) if ack.get("duplicate") else 0


async def undelivered_seq(q: NatsQueue, call_id: str, subject: str) -> int:
    """The sequence of ``call_id``'s message among those of ``subject`` not delivered yet.

    0 if it is not among them: a worker has it, or it is gone.
    """
    js = q.parts()[0]
    stream = q.names.stream
    start = 1
    with contextlib.suppress(nats.js.errors.NotFoundError):  # no worker asked for the lane yet
        info = await js.consumer_info(stream, q.names.consumer_for(subject))
        start = (info.delivered.stream_seq or 0) + 1 if info.delivered is not None else 1
    # One look a message: a work-queue stream takes no second consumer on a
    # lane, and nats-server 2.9 gets no batch of messages.
    while True:
        try:
            msg = await js.get_msg(stream, seq=start, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return 0  # not among those left to deliver
        if (msg.headers or {}).get("Nats-Msg-Id") == call_id:
            return msg.seq or 0
        start = (msg.seq or start) + 1
