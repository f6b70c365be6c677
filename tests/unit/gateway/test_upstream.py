"""The lean upstream client against real servers: framing, reuse, stale connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pyfaas.gateway.upstream import UpstreamError, UpstreamPool
from pyfaas.providers.base import Endpoint


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
    endpoint = Endpoint(port=one_shot_port)
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
    endpoint = Endpoint(port=server.sockets[0].getsockname()[1])
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
    from tests.helpers import free_port

    pool = UpstreamPool()
    with pytest.raises(UpstreamError):
        await pool.request(Endpoint(port=free_port()), "GET", "/", [], None)
