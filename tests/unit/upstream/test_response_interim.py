"""Interim (1xx) responses from a replica: read past to the final response, never taken for it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from pyfaas.upstream import Address, UpstreamError, UpstreamPool
from pyfaas.upstream.response import MAX_INTERIM

pytestmark = pytest.mark.integration

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
FINAL = b"HTTP/1.1 201 Created\r\nX-Final: yes\r\nContent-Length: 5\r\n\r\nfinal"


class _Replica:
    """Answers every request with ``parts``, written one after another, each on its own."""

    def __init__(self, *parts: bytes, close: bool = False) -> None:
        self.parts = parts
        self.close = close  # close after the parts instead of waiting for the next request
        self.requests = 0
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                for part in self.parts:
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.001)  # so that each part arrives apart
                if self.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def _serving(replica: _Replica) -> AsyncIterator[Address]:
    server = await asyncio.start_server(replica.handle, "127.0.0.1", 0)
    try:
        yield Address(port=server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "interim",
    [[CONTINUE], [EARLY_HINTS], [CONTINUE, PROCESSING, EARLY_HINTS], [CONTINUE] * MAX_INTERIM],
    ids=["100", "103", "100-102-103", "as-many-as-allowed"],
)
async def test_interim_responses_are_passed_over_to_the_final_one(interim: list[bytes]) -> None:
    replica = _Replica(*interim, FINAL)
    pool = UpstreamPool()
    async with _serving(replica) as endpoint:
        for _ in range(2):  # and the connection is clean for the next request
            response = await pool.request(endpoint, "GET", "/", [("Host", "x")], None)
            assert (response.status, response.reason) == (201, "Created")
            assert response.headers == [("X-Final", "yes"), ("Content-Length", "5")]
            assert await response.read() == b"final"
            response.release()
        await pool.close()
    assert (replica.connections, replica.requests) == (1, 2)


async def test_interim_responses_sent_with_the_final_one_in_one_write() -> None:
    replica = _Replica(CONTINUE + EARLY_HINTS + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    pool = UpstreamPool()
    async with _serving(replica) as endpoint:
        response = await pool.request(endpoint, "POST", "/", [("Host", "x")], b"body")
        assert response.status == 200
        assert response.headers == [("Content-Length", "2")]
        assert await response.read() == b"ok"
        response.release()
        await pool.close()


async def test_a_chunked_final_response_after_an_interim_one() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    pool = UpstreamPool()
    async with _serving(_Replica(CONTINUE, chunked)) as endpoint:
        response = await pool.request(endpoint, "GET", "/", [("Host", "x")], None)
        assert (response.status, await response.read()) == (200, b"abc")
        response.release()
        await pool.close()


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        ([b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"], "switched protocols"),
        ([CONTINUE, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"], "switched protocols"),
        ([CONTINUE] * (MAX_INTERIM + 1) + [FINAL], "more than 5 interim"),
        ([CONTINUE], "closed the connection after an interim response"),
        ([CONTINUE, b"HTTP/1.1 099 Odd\r\n\r\n"], "not an HTTP status"),
    ],
    ids=["101", "100-then-101", "too-many", "closed-after-100", "status-below-100"],
)
async def test_interim_responses_that_end_badly_are_upstream_errors(
    parts: list[bytes], error: str
) -> None:
    replica = _Replica(*parts, close=True)
    pool = UpstreamPool()
    async with _serving(replica) as endpoint:
        with pytest.raises(UpstreamError, match=error):
            await pool.request(endpoint, "GET", "/", [("Host", "x")], None)
        await pool.close()
    assert replica.requests == 1


async def test_a_replica_closing_after_an_interim_response_is_not_asked_again() -> None:
    # The replica has the request (it said 100): even a GET on a reused connection
    # is not sent again once a response has begun.
    answers = iter([[FINAL], [CONTINUE]])
    requests = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        try:
            for parts in answers:
                await reader.readuntil(b"\r\n\r\n")
                requests += 1
                writer.write(b"".join(parts))
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    endpoint = Address(port=server.sockets[0].getsockname()[1])
    pool = UpstreamPool()
    try:
        response = await pool.request(endpoint, "GET", "/", [("Host", "x")], None)
        assert await response.read() == b"final"
        response.release()
        with pytest.raises(UpstreamError, match="after an interim response"):
            await pool.request(endpoint, "GET", "/", [("Host", "x")], None)
        assert requests == 2
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
