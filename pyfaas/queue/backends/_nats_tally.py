"""The counts a NATS settle for good sends to the tally stream, one empty message each.

Stream ``PYFAAS_TALLY`` (``_nats_layout``) gets one message per call settled
for good (``<base>.tally.processed.<ns>.<fn>``) and one per callback that
failed for good (``<base>.tally.callback_failures.<ns>.<fn>``, under the
function of the call the callback was for). ``send_tallies`` only sends
them: the settle (``nats.NatsQueue._update``) awaits their acks after the
record's write, so that they cost no round trip of their own, and ``stats``
(``_nats_steer``) reads the counts per subject; nothing ever removes them.
"""

from __future__ import annotations

import asyncio

import nats.errors
from nats.aio.msg import Msg

from pyfaas.queue._records import callback_failure
from pyfaas.queue.backends._nats_claims import lane_of
from pyfaas.queue.backends._nats_errors import unavailable
from pyfaas.queue.backends._nats_layout import NatsNames
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.envelope import CallState, Delivery


async def send_tallies(
    pub: Publisher, names: NatsNames, url: str, delivery: Delivery, state: CallState
) -> list[asyncio.Future[Msg]]:
    """Send the counts a settle for good adds: processed, and a callback that failed."""
    call = delivery.call
    namespace, function = lane_of(call)
    counts = [("processed", namespace, function)]
    if callback_failure(call, state) is not None:
        counts.append(("callback_failures", call.namespace, call.function))
    sent = []
    try:
        for count, ns, fn in counts:
            subject = names.tally(count, ns, fn)
            if subject is not None:
                # The claim's token in the id: a settle tried again is one count.
                msg_id = f"{call.call_id}.{count}.{delivery.token}"
                sent.append(await pub.send(subject, b"", {"Nats-Msg-Id": msg_id}))
    except nats.errors.Error as exc:
        for waiter in sent:
            waiter.cancel()
        raise unavailable(url, exc) from exc
    return sent
