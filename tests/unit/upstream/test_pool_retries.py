"""When the upstream client sends a request again: never when the replica may have read it,
unless its method is safe to repeat; always (once) when no byte of it left this host.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import struct
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
import uvloop

from pyfaas.upstream import REPLAYABLE, Address, StaleConnection, UpstreamError, UpstreamPool

pytestmark = pytest.mark.integration

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _Replica:
    """A replica that answers the first ``answered`` requests on each connection, then
    reads the next one whole and closes without a word (a replica that dies mid-request).
    """

    def __init__(self, answered: Callable[[int], int]) -> None:
        self.answered = answered  # connection number (from 0) -> requests it answers
        self.requests: list[tuple[int, bytes, bytes]] = []  # (connection, head, body)
        self._connections = 0

    @property
    def connections(self) -> int:
        return self._connections

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self._connections
        self._connections += 1
        try:
            for _ in range(self.answered(number)):
                await self._read(number, reader)
                writer.write(OK)
                await writer.drain()
            await self._read(number, reader)  # and then die
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _read(self, number: int, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append((number, head, await _body(reader, head)))

    def methods(self) -> list[tuple[int, str]]:
        return [(n, head.split(b" ", 1)[0].decode()) for n, head, _ in self.requests]


async def _body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    if b"transfer-encoding: chunked" in head.lower():
        return await reader.readuntil(b"0\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":")[1]))
    return b""


@contextlib.asynccontextmanager
async def _serving(replica: _Replica) -> AsyncIterator[Address]:
    server = await asyncio.start_server(replica.handle, "127.0.0.1", 0)
    try:
        yield Address(port=server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def _call(pool: UpstreamPool, endpoint: Address, method: str, body: Any) -> bytes:
    response = await pool.request(endpoint, method, "/", [("Host", "x")], body)
    try:
        return await response.read()
    finally:
        response.release()


async def _parts() -> AsyncIterator[bytes]:
    yield b"streamed "
    yield b"payload"


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("POST", b"payload"),
        ("POST", None),
        ("POST", "streamed"),
        ("PUT", b"payload"),
        ("PATCH", b"payload"),
        ("DELETE", None),
    ],
)
async def test_a_request_the_replica_may_have_read_is_not_sent_again(
    method: str, body: bytes | str | None
) -> None:
    replica = _Replica(lambda connection: 1)  # every connection: one answer, then dies
    pool = UpstreamPool()
    async with _serving(replica) as endpoint:
        assert await _call(pool, endpoint, "GET", None) == b"ok"  # now the connection is pooled
        with pytest.raises(StaleConnection, match="closed the connection before answering"):
            await _call(pool, endpoint, method, _parts() if body == "streamed" else body)
        await pool.close()
    assert replica.methods() == [(0, "GET"), (0, method)]  # once, and no new connection
    assert replica.connections == 1
    if body is not None:
        assert replica.requests[1][2] in (
            b"payload",
            b"9\r\nstreamed \r\n7\r\npayload\r\n0\r\n\r\n",
        )


@pytest.mark.parametrize("method", sorted(REPLAYABLE))
async def test_a_safe_request_is_sent_again_once_on_a_fresh_connection(method: str) -> None:
    replica = _Replica(lambda connection: 1 if connection == 0 else 99)
    pool = UpstreamPool()
    async with _serving(replica) as endpoint:
        assert await _call(pool, endpoint, "GET", None) == b"ok"
        expected = b"" if method == "HEAD" else b"ok"
        assert await _call(pool, endpoint, method, None) == expected
        await pool.close()
    assert replica.methods() == [(0, "GET"), (0, method), (1, method)]


async def test_a_safe_request_is_sent_again_only_once() -> None:
    replica = _Replica(lambda connection: 1 if connection == 0 else 0)
    pool = UpstreamPool()
    async with _serving(replica) as endpoint:
        assert await _call(pool, endpoint, "GET", None) == b"ok"
        with pytest.raises(UpstreamError):
            await _call(pool, endpoint, "GET", None)
        await pool.close()
    assert replica.methods() == [(0, "GET"), (0, "GET"), (1, "GET")]


async def test_a_fresh_connection_is_not_retried() -> None:
    replica = _Replica(lambda connection: 0)
    pool = UpstreamPool()
    async with _serving(replica) as endpoint:
        with pytest.raises(UpstreamError):
            await _call(pool, endpoint, "GET", None)
        await pool.close()
    assert replica.methods() == [(0, "GET")]


async def _reset_before_the_write(method: str) -> tuple[bytes, list[bytes]]:
    """A replica resets its idle connection; the next request's write fails at once.

    The reset reaches this host's kernel while the event loop is not looking, so the
    pooled connection still looks open when taken: the write is what fails, before
    the kernel took any byte. Returns the answer and what the replica read.
    """
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    endpoint = Address(port=listener.getsockname()[1])
    seen: list[bytes] = []

    async def serve_one(answer: bool) -> socket.socket:
        conn, _ = await loop.sock_accept(listener)
        data = b""
        while not data.endswith(b"payload"):
            chunk = await loop.sock_recv(conn, 65536)
            assert chunk, data
            data += chunk
        seen.append(data)
        if answer:
            await loop.sock_sendall(conn, OK)
        return conn

    pool = UpstreamPool()
    try:
        first = asyncio.ensure_future(serve_one(answer=True))
        assert await _call(pool, endpoint, method, b"payload") == b"ok"
        old = await first
        old.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        old.close()  # an abortive close: the kernel sends a reset
        [idle] = pool._idle[(endpoint.host, endpoint.port, None)]
        assert idle.transport is not None
        ready, _, _ = select.select([idle.transport.get_extra_info("socket")], [], [], 10)
        assert ready  # the reset has arrived; the loop has not run since
        assert idle.reusable
        second = asyncio.ensure_future(serve_one(answer=True))
        answer = await _call(pool, endpoint, method, b"payload")
        (await second).close()
        return answer, seen
    finally:
        await pool.close()
        listener.close()


Runner = Callable[[Coroutine[Any, Any, tuple[bytes, list[bytes]]]], tuple[bytes, list[bytes]]]


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_post_whose_write_failed_at_once_is_sent_on_a_fresh_connection(run: Runner) -> None:
    answer, seen = run(_reset_before_the_write("POST"))
    assert answer == b"ok"
    assert len(seen) == 2  # the first call, then the second on the fresh connection only
    assert all(data.startswith(b"POST / HTTP/1.1\r\n") for data in seen)
