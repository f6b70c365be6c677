"""Pull requests on a JetStream durable consumer, answered on one wildcard inbox.

nats-py's ``PullSubscription.fetch`` waits for each message of a batch in
turn, with a time-out each: a batch of seventy calls took 6-9 ms to collect
while the worker's other tasks ran between the messages, and the worker
often sat with every slot free waiting for it. Here the messages of a
batch are collected by the subscription's callback as they arrive, and
the fetch wakes once, when the batch is full or the server says it has no
more.

A fetch first asks for what is there now (``no_wait``); only if nothing is
there does it wait, with a request for one message that the server holds
until one comes or ``expires`` runs out, so the first call after a quiet
spell starts at once. Each request has its own reply subject under the
inbox, which the server's status answers ("no messages", "request
timeout") come on, so a late status ends no other request. Calls come
with their stream's subject whichever request they answer; one that
arrives when no fetch wants it (its fetch was cancelled) is kept and
handed out by the next fetch. Messages are taken as the client reads them
(``_nats_inline``).

A fetch also tells when the first of its messages arrived: the server
started each delivery's ack timer when it sent the message, shortly before
(by the network's delay, or longer while this process's loop was busy).
The queue counts a lease as lost a margin before it may run out on the
server, since JetStream does not refuse an ack that comes later.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import Header, StatusCode

from pyfaas.errors import QueueUnavailable
from pyfaas.queue import _json
from pyfaas.queue.backends._nats_inline import subscribe

# How long the server may hold a request for what is there now.
NO_WAIT_EXPIRES = 0.5
# A request for what is there now that the server has not ended this long
# after its expiry is taken as answered "nothing": nats-server 2.9 was seen
# to drop one sent just as the one before it expired, on a consumer holding
# a call nak'ed for its delay, and never to answer it.
NO_WAIT_GIVE_UP = NO_WAIT_EXPIRES + 1.0
# How the server ends a pull request that it could not fill: nothing more.
_ENDED = (StatusCode.NO_MESSAGES, StatusCode.REQUEST_TIMEOUT)


class _Batch:
    def __init__(self, subject: str, wanted: int) -> None:
        self.subject = subject
        self.wanted = wanted
        self.first = 0.0  # when the first message arrived
        self.msgs: list[Msg] = []
        # Set when the batch is over: None once full, else the server's status headers.
        self.done: asyncio.Future[dict[str, str] | None] = (
            asyncio.get_running_loop().create_future()
        )

    def add(self, msg: Msg) -> None:
        if not self.msgs:
            self.first = time.monotonic()
        self.msgs.append(msg)
        if len(self.msgs) >= self.wanted and not self.done.done():
            self.done.set_result(None)

    def end(self, headers: dict[str, str]) -> None:
        if not self.done.done():
            self.done.set_result(headers)


class Puller:
    """Fetch batches of messages from one durable pull consumer."""

    def __init__(self, nc: Client, stream: str, consumer: str, timeout: float) -> None:
        self._nc = nc
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._timeout = timeout
        self._prefix = nc.new_inbox() + "."
        self._ids = itertools.count()
        self._batch: _Batch | None = None
        self._spare: list[Msg] = []  # delivered for a request no longer waited for
        self._spare_since = 0.0  # when the first of the spare messages arrived

    async def start(self) -> None:
        await subscribe(self._nc, self._prefix + "*", self._arrive)

    def _arrive(self, msg: Msg) -> None:
        batch = self._batch
        if not msg.subject.startswith(self._prefix):
            # A call: its subject is the stream's, whichever request it answers.
            if batch is not None and len(batch.msgs) < batch.wanted:
                batch.add(msg)
            else:
                self._keep([msg], time.monotonic())
            return
        headers = msg.headers or {}
        heartbeat = headers.get(Header.STATUS) == StatusCode.CONTROL_MESSAGE
        if batch is not None and msg.subject == batch.subject and not heartbeat:
            batch.end(headers)

    def _keep(self, msgs: list[Msg], since: float) -> None:
        if not msgs:
            return
        if not self._spare:
            self._spare_since = since
        self._spare_since = min(self._spare_since, since)
        self._spare += msgs

    def take_spare(self) -> list[Msg]:
        """Messages delivered but never handed out, e.g. to give back on close."""
        spare, self._spare = self._spare, []
        return spare

    async def fetch(self, limit: int, wait: float) -> tuple[list[Msg], float]:
        """Up to ``limit`` messages, waiting up to ``wait`` seconds only if none is there.

        With them, the ``time.monotonic()`` when the first of them arrived.
        """
        if self._spare:
            msgs, self._spare = self._spare[:limit], self._spare[limit:]
            return msgs, self._spare_since
        # With an expiry too: a consumer that counts a message deleted under it
        # (a cancel) as pending holds a bare no_wait request instead of answering.
        now = {"batch": limit, "no_wait": True, "expires": int(NO_WAIT_EXPIRES * 1e9)}
        limit_now = min(self._timeout, NO_WAIT_GIVE_UP)
        msgs, first = await self._request(limit, now, limit_now, unanswered_is_empty=True)
        if msgs or wait <= 0:
            return msgs, first
        if self._spare:
            # Delivered to the request just given up on: hand it out now, not
            # after a wait in which its lease would run out and bring it again.
            msgs, self._spare = self._spare[:limit], self._spare[limit:]
            return msgs, self._spare_since
        # The server ends the request at ``expires``; waiting a little longer
        # here lets its "request timeout" arrive rather than racing it.
        ask = {"batch": 1, "expires": int(wait * 1e9)}
        return await self._request(1, ask, wait + self._timeout)

    async def _request(
        self,
        wanted: int,
        ask: Mapping[str, object],
        limit: float,
        *,
        unanswered_is_empty: bool = False,
    ) -> tuple[list[Msg], float]:
        subject = self._prefix + str(next(self._ids))
        batch = self._batch = _Batch(subject, wanted)
        try:
            await self._nc.publish(self._subject, _json.dumps(ask), reply=subject)
            async with asyncio.timeout(limit):
                ended = await batch.done
        except TimeoutError:
            if batch.msgs or unanswered_is_empty:
                # A call it brings later is taken by whichever fetch is waiting then.
                return batch.msgs, batch.first
            raise QueueUnavailable(f"no answer to a pull request within {limit:g}s") from None
        except asyncio.CancelledError:
            self._keep(batch.msgs, batch.first)  # leased to this process: for the next fetch
            raise
        finally:
            self._batch = None
        headers = ended or {}
        status = headers.get(Header.STATUS)
        if status and status not in _ENDED:
            described = f"{status} {headers.get(Header.DESCRIPTION, '')}".strip()
            raise QueueUnavailable(f"pull request answered {described}")
        return batch.msgs, batch.first
