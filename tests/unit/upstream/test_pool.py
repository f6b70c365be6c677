"""The pool against real servers: framing, reuse, stale connections, flow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from pyfaas.upstream import Address, Body, UpstreamError, UpstreamPool
from pyfaas.upstream.response import MAX_HEAD, READ_SIZE


async def _one_shot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers one request, then closes without saying so (an idle-timeout close)."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    await writer.drain()
    writer.close()


@pytest.fixture
async def one_shot_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_one_shot, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_stale_pooled_connection_is_retried(one_shot_port: int) -> None:
    pool = UpstreamPool()
    endpoint = Address(port=one_shot_port)
    for _ in range(3):
        response = await pool.request(endpoint, "GET", "/", [("Host", "x")], None)
        assert response.status == 200
        assert await response.read() == b"ok"
        response.release()
        await asyncio.sleep(0)  # let the server's close reach us
    await pool.close()


async def test_head_and_chunked_and_close_delimited() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            if head.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
            elif b"/chunked" in head:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                writer.write(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n")
            else:
                writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil-close")
                await writer.drain()
                writer.close()
                return
            await writer.drain()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    endpoint = Address(port=server.sockets[0].getsockname()[1])
    pool = UpstreamPool()
    response = await pool.request(endpoint, "HEAD", "/", [], None)
    assert response.content_length == 0
    assert await response.read() == b""
    response.release()
    response = await pool.request(endpoint, "GET", "/chunked", [], None)
    assert await response.read() == b"abcde"
    response.release()
    response = await pool.request(endpoint, "GET", "/close", [], None)
    assert response.content_length is None
    assert await response.read() == b"until-close"
    response.release()
    await pool.close()
    server.close()
    await server.wait_closed()


async def test_refused_connection_is_an_upstream_error() -> None:
    from tests.helpers import refused_port

    pool = UpstreamPool()
    with refused_port() as sock, pytest.raises(UpstreamError):
        await pool.request(Address(port=sock.getsockname()[1]), "GET", "/", [], None)


class _Server:
    """A raw HTTP/1.1 server that counts connections and keeps what it was sent."""

    def __init__(self, answer: Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]) -> None:
        self.answer = answer  # writes the response; False closes the connection
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = await _request_body(reader, head)
                self.requests.append((head, body))
                if not await self.answer(head, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _request_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readexactly(2)
        return b"".join(parts)
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return await reader.readexactly(int(line.split(b":")[1]))
    return b""


@contextlib.asynccontextmanager
async def _serving(server: _Server, unix_path: str | None = None) -> AsyncIterator[Address]:
    if unix_path is not None:
        listening = await asyncio.start_unix_server(server.handle, unix_path)
        endpoint = Address(host="localhost", unix_path=unix_path)
    else:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        endpoint = Address(port=listening.sockets[0].getsockname()[1])
    try:
        yield endpoint
    finally:
        listening.close()
        await listening.wait_closed()


async def _ok(head: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    return True


async def _get(pool: UpstreamPool, endpoint: Address, body: Body = None) -> tuple[int, bytes]:
    response = await pool.request(endpoint, "POST", "/", [("Host", "x")], body)
    try:
        return response.status, await response.read()
    finally:
        response.release()


async def test_a_connection_is_reused_for_the_next_request() -> None:
    server = _Server(_ok)
    pool = UpstreamPool()
    async with _serving(server) as endpoint:
        for _ in range(3):
            assert await _get(pool, endpoint, b"x") == (200, b"ok")
        await pool.close()
    assert server.connections == 1
    assert [body for _, body in server.requests] == [b"x"] * 3


async def test_a_unix_socket_endpoint(tmp_path: Path) -> None:
    server = _Server(_ok)
    pool = UpstreamPool()
    async with _serving(server, str(tmp_path / "replica.sock")) as endpoint:
        assert await _get(pool, endpoint) == (200, b"ok")
        await pool.close()
    assert server.requests[0][0].startswith(b"POST / HTTP/1.1\r\n")
    assert b"Content-Length: 0\r\n" in server.requests[0][0]


async def test_a_response_trickling_in_byte_by_byte() -> None:
    response = b"HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello"

    async def trickle(head: bytes, writer: asyncio.StreamWriter) -> bool:
        for i in range(len(response)):
            writer.write(response[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0.001)
        return True

    pool = UpstreamPool()
    async with _serving(_Server(trickle)) as endpoint:
        answer = await pool.request(endpoint, "GET", "/", [], None)
        assert (answer.status, answer.reason) == (201, "Created")
        assert answer.headers == [("X-A", "1"), ("Content-Length", "5")]
        assert await answer.read() == b"hello"
        answer.release()
        await pool.close()


async def test_a_large_body_read_whole_and_streamed() -> None:
    payload = bytes(range(256)) * 16 * 1024  # 4 MiB, far past the read pause

    async def large(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
        return True

    server = _Server(large)
    pool = UpstreamPool()
    async with _serving(server) as endpoint:
        assert await _get(pool, endpoint) == (200, payload)
        answer = await pool.request(endpoint, "GET", "/", [], None)
        chunks = [chunk async for chunk in answer.iter_chunks()]
        answer.release()
        assert b"".join(chunks) == payload
        assert max(len(chunk) for chunk in chunks) <= READ_SIZE
        await pool.close()
    assert server.connections == 1


async def test_a_streamed_request_body_is_sent_chunked() -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"abc", b"", b"d" * 100_000, b"e"):
            yield part

    server = _Server(_ok)
    pool = UpstreamPool()
    async with _serving(server) as endpoint:
        assert await _get(pool, endpoint, parts()) == (200, b"ok")
        await pool.close()
    head, body = server.requests[0]
    assert b"Transfer-Encoding: chunked\r\n" in head
    assert body == b"abc" + b"d" * 100_000 + b"e"


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD + 10), "without"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "mid-body"),
        (b"HTTP/1.1 200 OK\r\nContent-", "truncated response head"),
        (b"garbage\r\n\r\n", "malformed status line"),
    ],
    ids=["head-too-large", "truncated-body", "truncated-head", "bad-status-line"],
)
async def test_a_broken_response_is_an_upstream_error(response: bytes, error: str) -> None:
    async def broken(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(response)
        return False

    pool = UpstreamPool()
    async with _serving(_Server(broken)) as endpoint:
        with pytest.raises(UpstreamError, match=error):
            await _get(pool, endpoint)
        await pool.close()


async def test_bytes_after_a_response_keep_its_connection_out_of_the_pool() -> None:
    async def extra(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
        return True

    server = _Server(extra)
    pool = UpstreamPool()
    async with _serving(server) as endpoint:
        assert await _get(pool, endpoint) == (200, b"ok")
        assert await _get(pool, endpoint) == (200, b"ok")
        await pool.close()
    assert server.connections == 2


async def test_a_cancelled_request_closes_its_connection() -> None:
    heads: list[bytes] = []
    next_came = asyncio.Event()

    async def slow(head: bytes, writer: asyncio.StreamWriter) -> bool:
        heads.append(head)
        if len(heads) == 1:  # cancelled meanwhile: answers once the next request came
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(next_came.wait(), 1.0)
        next_came.set()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    server = _Server(slow)
    pool = UpstreamPool()
    async with _serving(server) as endpoint:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await _get(pool, endpoint)
        assert await _get(pool, endpoint) == (200, b"ok")
        await pool.close()
    assert server.connections == 2
