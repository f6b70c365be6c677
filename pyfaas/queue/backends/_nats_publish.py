"""JetStream publishes and acks that wait for their reply, over one reply subscription.

nats-py's ``JetStreamContext.publish`` makes each request's reply subject
from a NUID and ``secrets.token_hex``, waits with ``asyncio.wait_for`` and
builds a ``PubAck`` dataclass from the reply: together some 15 % of a
gateway's samples per accepted call, which makes two such publishes. Here a
reply subject is a counter under one inbox, a publish waits on a bare future
and the ack stays the parsed JSON. Errors are nats-py's own, so callers
handle both paths alike.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import Header, StatusCode

from pyfaas.queue import _json


class Publisher:
    """Requests to JetStream: publishes answered by an ack, synchronous acks of deliveries."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = nc.new_inbox() + "."
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}

    async def start(self) -> None:
        await self._nc.subscribe(self._prefix + "*", cb=self._reply)

    async def _reply(self, msg: Msg) -> None:
        waiter = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Publish and wait for the ack; raise nats-py's error for a refusal or a time-out."""
        return self.ack_of(await self.request(subject, payload, headers))

    async def send(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> asyncio.Future[Msg]:
        """Send a request now; the reply (or a time-out) is awaited later, by whoever needs it.

        No task per request: a claim sends one for each call it hands out.
        """
        token = str(next(self._tokens))
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = waiter
        timer = loop.call_later(self._timeout, _expire, waiter)

        def done(_: asyncio.Future[Msg]) -> None:
            timer.cancel()
            self._waiting.pop(token, None)

        waiter.add_done_callback(done)
        await self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
        return waiter

    @staticmethod
    def ack_of(msg: Msg) -> dict[str, Any]:
        """A publish's ack from its reply; nats-py's error for a refusal."""
        if msg.headers and msg.headers.get(Header.STATUS) == StatusCode.SERVICE_UNAVAILABLE:
            raise nats.js.errors.NoStreamResponseError
        ack: dict[str, Any] = _json.loads(msg.data)
        if "error" in ack:
            nats.js.errors.APIError.from_error(ack["error"])  # raises
        return ack

    async def request(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> Msg:
        """Send a request and return the reply as it came, e.g. a synchronous ack's."""
        token = str(next(self._tokens))
        waiter: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._waiting[token] = waiter
        # One timer handle per publish costs less than wait_for's extra
        # future and callbacks; the handle is cancelled as soon as the ack is in.
        timer = asyncio.get_running_loop().call_later(self._timeout, _expire, waiter)
        try:
            await self._nc.publish(subject, payload, reply=self._prefix + token, headers=headers)
            msg = await waiter
        finally:
            timer.cancel()
            self._waiting.pop(token, None)
        return msg


def _expire(waiter: asyncio.Future[Msg]) -> None:
    if not waiter.done():
        waiter.set_exception(nats.errors.TimeoutError())
