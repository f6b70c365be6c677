"""JetStream publishes and acks that wait for their reply, over one reply subscription.

nats-py's ``JetStreamContext.publish`` makes each request's reply subject
from a NUID and ``secrets.token_hex``, waits with ``asyncio.wait_for`` and
builds a ``PubAck`` dataclass from the reply: together some 15 % of a
gateway's samples per accepted call, which makes two such publishes. Here a
reply subject is a counter under one inbox, a publish waits on a bare future
and the ack stays the parsed JSON. Errors are nats-py's own, so callers
handle both paths alike. Replies are handled as the client reads them
(``_nats_inline``).

nats-py's ``Client.publish`` also checks both subjects and every header
against patterns and builds the protocol line through an f-string: a third
of a put's time in the client. The subjects here are the queue's own
(tokens it made, reply subjects the server gave), so while connected a
publish writes its ``HPUB`` line itself into the client's buffer and kicks
the client's flusher, as ``Client.publish`` does; a header value that holds
a line break, or a client that lacks those parts, takes ``Client.publish``.

A publish may also be sent ``later``: written into the buffer now and
flushed within ``LATER`` seconds, with whatever else is written meanwhile.
A worker's settles use it: each was a socket write of its own, some 12 %
of a busy worker's samples, and nothing waits on a settle but the settle.
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
from pyfaas.queue.backends._nats_inline import subscribe

_HEADER_START = b"NATS/1.0\r\n"
# Seconds a publish sent ``later`` may wait in the buffer for others to join it.
LATER = 0.002


def _header_block(headers: dict[str, str]) -> bytes | None:
    """The NATS header block of ``headers``; None for a value ``Client.publish`` must clean."""
    parts = [_HEADER_START]
    for key, value in headers.items():
        if "\r" in value or "\n" in value:
            return None
        parts += (key.encode(), b": ", value.strip().encode(), b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


class Publisher:
    """Requests to JetStream: publishes answered by an ack, synchronous acks of deliveries."""

    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout
        self._prefix = nc.new_inbox() + "."
        self._tokens = itertools.count()
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        # The client's buffer and flusher, for publishes written here; a client
        # without them (another nats-py) publishes through ``Client.publish``.
        self._direct = all(
            hasattr(nc, name) for name in ("_send_command", "_flush_pending", "_flush_queue")
        )
        self._kick: asyncio.TimerHandle | None = None  # the flush of what was sent later
        self._flushing: asyncio.Task[Any] | None = None  # its kick, on its way

    async def start(self) -> None:
        await subscribe(self._nc, self._prefix + "*", self._reply)

    def _reply(self, msg: Msg) -> None:
        waiter = self._waiting.pop(msg.subject[len(self._prefix) :], None)
        if waiter is not None and not waiter.done():
            waiter.set_result(msg)

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Publish and wait for the ack; raise nats-py's error for a refusal or a time-out."""
        return self.ack_of(await self.request(subject, payload, headers))

    async def send(
        self,
        subject: str,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        later: bool = False,
    ) -> asyncio.Future[Msg]:
        """Send a request (``later``: flushed within ``LATER``); its reply is awaited by its user.

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
        try:
            await self._publish(subject, payload, self._prefix + token, headers, later)
        except BaseException:
            waiter.cancel()  # never sent: no reply to wait for, nor a time-out to leave
            raise
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

    async def post(
        self,
        subject: str,
        payload: bytes,
        headers: dict[str, str] | None = None,
        *,
        later: bool = False,
    ) -> None:
        """Publish with no reply asked for, e.g. an ack that follows a write in the same flush."""
        await self._publish(subject, payload, "", headers, later)

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
            await self._publish(subject, payload, self._prefix + token, headers)
            msg = await waiter
        finally:
            timer.cancel()
            self._waiting.pop(token, None)
        return msg

    async def _publish(
        self,
        subject: str,
        payload: bytes,
        reply: str,
        headers: dict[str, str] | None,
        later: bool = False,
    ) -> None:
        nc = self._nc
        hdr = _header_block(headers) if headers else b""
        if (
            not self._direct
            or hdr is None
            or not nc.is_connected
            or nc.is_draining_pubs
            or len(payload) > nc.max_payload
        ):
            # Its checks and its errors: closed, reconnecting, too big.
            await nc.publish(subject, payload, reply=reply, headers=headers)
            return
        size = len(payload)
        to = f"{subject} {reply}" if reply else subject
        if hdr:
            line = f"HPUB {to} {len(hdr)} {len(hdr) + size}\r\n"
            command = b"".join((line.encode(), hdr, payload, b"\r\n"))
        else:
            command = b"".join((f"PUB {to} {size}\r\n".encode(), payload, b"\r\n"))
        nc.stats["out_msgs"] += 1
        nc.stats["out_bytes"] += size
        await nc._send_command(command)  # Client.publish's own two steps
        if later:
            if self._kick is None:
                self._kick = asyncio.get_running_loop().call_later(LATER, self._flush_later)
            return
        flushing = nc._flush_queue
        if flushing is not None and flushing.empty():
            await nc._flush_pending()

    def _flush_later(self) -> None:
        """Kick the client's flusher for what was sent later, unless a publish since did."""
        self._kick = None
        flushing = self._nc._flush_queue
        if flushing is not None and flushing.empty():
            # nats-py's own kick, with its checks (connected, a flusher alive),
            # in a task: a timer cannot await. Kept, so that it is not lost.
            self._flushing = asyncio.get_running_loop().create_task(self._nc._flush_pending())


def _expire(waiter: asyncio.Future[Msg]) -> None:
    if not waiter.done():
        waiter.set_exception(nats.errors.TimeoutError())
