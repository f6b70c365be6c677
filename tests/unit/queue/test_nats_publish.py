"""What the NATS publisher writes itself, as nats-py's ``Client.publish`` would."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from nats.aio.client import Client

from pyfaas.queue.backends._nats_publish import LATER, Publisher, _header_block


def test_headers_are_written_as_the_nats_header_block() -> None:
    block = _header_block({"Nats-Msg-Id": "c1.r2", "Nats-Expected-Last-Subject-Sequence": "0"})
    assert block == (
        b"NATS/1.0\r\nNats-Msg-Id: c1.r2\r\nNats-Expected-Last-Subject-Sequence: 0\r\n\r\n"
    )


def test_a_value_that_is_not_ascii_is_written_as_utf8() -> None:
    assert _header_block({"Pyfaas-Call-Id": "caf\u00e9"}) == (
        b"NATS/1.0\r\nPyfaas-Call-Id: caf\xc3\xa9\r\n\r\n"
    )


def test_a_value_with_a_line_break_is_left_to_nats_py() -> None:
    assert _header_block({"Nats-Msg-Id": "a\r\nX-Injected: 1"}) is None


class _Client:
    """What the publisher writes into: nats-py's buffer and flusher, recorded."""

    is_connected = True
    is_draining_pubs = False
    max_payload = 1024 * 1024

    def __init__(self) -> None:
        self.stats = {"out_msgs": 0, "out_bytes": 0}
        self.sent: list[bytes] = []
        self._flush_queue: asyncio.Queue[Any] | None = None

    def new_inbox(self) -> str:
        return "_INBOX.t"

    async def _send_command(self, command: bytes) -> None:
        self.sent.append(command)

    async def _flush_pending(self) -> None:
        if self._flush_queue is not None:  # nats-py's kick of its flusher
            await self._flush_queue.put(None)


async def test_an_ack_that_follows_a_write_asks_for_no_reply() -> None:
    client = _Client()
    pub = Publisher(cast(Client, client), 5.0)
    waiter = await pub.send("$KV.b.c1", b"{}")
    await pub.post("$JS.ACK.s.c.1.2.3.4.5", b"")
    assert client.sent == [
        b"PUB $KV.b.c1 _INBOX.t.0 2\r\n{}\r\n",
        b"PUB $JS.ACK.s.c.1.2.3.4.5 0\r\n\r\n",
    ]
    waiter.cancel()


async def test_what_is_sent_later_is_flushed_once_within_its_wait() -> None:
    client = _Client()
    client._flush_queue = asyncio.Queue()
    pub = Publisher(cast(Client, client), 5.0)
    waiter = await pub.send("$KV.b.c1", b"{}", later=True)
    await pub.post("$JS.ACK.s.c.1.2.3.4.5", b"", later=True)
    assert len(client.sent) == 2
    assert client._flush_queue.empty()  # in the buffer, the flusher not yet kicked
    await asyncio.sleep(LATER * 5)
    assert client._flush_queue.qsize() == 1  # one kick for both
    waiter.cancel()
