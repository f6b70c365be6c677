"""The gateway -> replica hop through the whole gateway: a replica that dies mid-request,
interim (1xx) responses, and ``Expect: 100-continue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import ClientSession

from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from tests.unit.gateway.conftest import MakeClient, deploy

pytestmark = pytest.mark.integration

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
FINAL = b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nfinal"

# (connection number, request number on it, request head) -> bytes to send, or None to die
Answer = Callable[[int, int, bytes], bytes | None]


class _Replica:
    """A raw replica: reads each request whole, then answers as told or closes unanswered."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection, head, body)
        self._connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self._connections
        self._connections += 1
        try:
            for index in range(1000):
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append((number, head, await reader.readexactly(length)))
                response = self.answer(number, index, head)
                if response is None:
                    break
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def seen(self) -> list[tuple[int, str, bytes]]:
        return [(n, head.split(b" ", 1)[0].decode(), body) for n, head, body in self.requests]


@contextlib.asynccontextmanager
async def _gateway(make_client: MakeClient, replica: _Replica) -> AsyncIterator[ClientSession]:
    server = await asyncio.start_server(replica.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    provider = MemoryProvider(lambda name, ns: Endpoint(port=port, replica=f"{name}-0"))
    await deploy(provider, "fn")
    try:
        yield await make_client(provider=provider)
    finally:
        server.close()
        await server.wait_closed()


def _dies_on_second(number: int, index: int, head: bytes) -> bytes | None:
    """The first connection answers one request and dies reading the next; later ones answer."""
    return None if (number, index) == (0, 1) else OK


async def test_a_post_the_replica_read_before_dying_reaches_it_once_and_is_502(
    make_client: MakeClient,
) -> None:
    replica = _Replica(_dies_on_second)
    async with _gateway(make_client, replica) as client:
        first = await client.post("/function/fn", data=b"one")
        assert (first.status, await first.read()) == (200, b"ok")
        second = await client.post("/function/fn", data=b"two")
        assert second.status == 502
        text = await second.text()
        assert text.startswith("cannot reach function /function/fn: ")
        assert text.count("\n") == 1
        third = await client.post("/function/fn", data=b"three")
        assert third.status == 200  # the gateway carries on with a fresh connection
    assert replica.seen() == [(0, "POST", b"one"), (0, "POST", b"two"), (1, "POST", b"three")]


async def test_a_get_the_replica_read_before_dying_is_retried_once(
    make_client: MakeClient,
) -> None:
    replica = _Replica(_dies_on_second)
    async with _gateway(make_client, replica) as client:
        first = await client.get("/function/fn")
        assert (first.status, await first.read()) == (200, b"ok")
        second = await client.get("/function/fn")
        assert (second.status, await second.read()) == (200, b"ok")
    assert replica.seen() == [(0, "GET", b""), (0, "GET", b""), (1, "GET", b"")]


async def _port(client: ClientSession) -> int:
    """The gateway's port, from a request that reaches no replica."""
    resp = await client.get("/function/")
    assert resp.status == 404
    port = resp.url.port
    assert port is not None
    return port


async def _raw_exchange(port: int, request: bytes) -> bytes:
    """Everything the gateway sends back for ``request`` (which asks it to close after)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read()  # to the end: the request said Connection: close
    finally:
        writer.close()


@pytest.mark.parametrize(
    "interim", [[CONTINUE], [EARLY_HINTS], [CONTINUE, EARLY_HINTS]], ids=["100", "103", "100-103"]
)
async def test_interim_responses_of_a_replica_are_not_relayed(
    make_client: MakeClient, interim: list[bytes]
) -> None:
    replica = _Replica(lambda number, index, head: b"".join(interim) + FINAL)
    async with _gateway(make_client, replica) as client:
        raw = await _raw_exchange(
            await _port(client),
            b"GET /function/fn HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
        )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 Created\r\n")
    assert raw.count(b"HTTP/1.1 ") == 1  # one response, the final one
    assert b"link:" not in head.lower()  # nor the early hint's headers
    assert b"\r\ncontent-length: 5\r\n" in head.lower() + b"\r\n"
    assert body == b"final"


async def test_a_replica_switching_protocols_is_502(make_client: MakeClient) -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    replica = _Replica(lambda number, index, head: switch)
    async with _gateway(make_client, replica) as client:
        resp = await client.get("/function/fn")
        assert resp.status == 502
        assert "switched protocols" in await resp.text()


async def test_expect_100_continue_is_answered_by_the_gateway_and_not_forwarded(
    client: ClientSession, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    resp = await client.post(
        "/function/echo", data=b"hello", expect100=True, headers={"X-Keep": "1"}
    )
    assert resp.status == 200
    assert await resp.read() == b"hello"
    seen = {k.lower(): v for k, v in json.loads(resp.headers["X-Echo-Headers"]).items()}
    assert "expect" not in seen
    assert seen["x-keep"] == "1"


async def test_expect_is_not_forwarded_from_a_raw_request(make_client: MakeClient) -> None:
    replica = _Replica(lambda number, index, head: OK)
    async with _gateway(make_client, replica) as client:
        raw = await _raw_exchange(
            await _port(client),
            b"POST /function/fn HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n"
            b"Content-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
    # The public server may say 100 Continue itself; then comes the replica's answer.
    final = raw.removeprefix(CONTINUE)
    assert final.startswith(b"HTTP/1.1 200 OK\r\n")
    assert final.endswith(b"\r\n\r\nok")
    [(_, head, body)] = replica.requests
    assert b"expect" not in head.lower()
    assert body == b"hello"


async def test_expect_is_not_stored_with_a_queued_call(
    client: ClientSession, provider: MemoryProvider, queue: MemoryQueue
) -> None:
    # The worker replays a queued call's headers: an Expect stored with it would
    # reach the replica on every attempt.
    await deploy(provider, "echo")
    resp = await client.post(
        "/async-function/echo", data=b"hello", expect100=True, headers={"X-Keep": "1"}
    )
    assert resp.status == 202
    [delivery] = await queue.claim(limit=1, lease=30, wait=0)
    names = {name.lower() for name, _ in delivery.call.headers}
    assert "expect" not in names
    assert "x-keep" in names
    assert delivery.call.body == b"hello"
