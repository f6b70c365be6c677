"""A lean HTTP/1.1 client for the gateway -> replica hop, over pooled keep-alive connections.

The gateway talks to replicas it started itself, on loopback or a Unix
socket, so it needs only a small, strict part of HTTP/1.1: one request at a
time per connection, bodies framed by ``Content-Length`` or chunked, no
redirects, no cookies, no decompression. Doing just that costs a fraction of
a general client's per-request work (see docs/performance.md).

A request is sent at most twice, and twice only when that cannot make the
replica run it twice: Go's ``net/http`` transport's rule, less its
``Idempotency-Key`` exception for POSTs. A pooled
connection that the replica has closed while idle, as far as this process
has seen, is dropped when taken. A request that then fails on a reused
connection before any response byte arrives is retried once, on a fresh
connection, if its body is whole bytes (or none) and either no byte of it
was accepted by the kernel (the connection was closed before the write, or
the write failed at once) or its method is safe to repeat: GET, HEAD,
OPTIONS, TRACE (Go's ``isReplayable``). Otherwise the replica may have read
it, and the caller gets ``UpstreamError``: a replica that reads a POST and
dies without answering is not sent that POST again.

Interim responses (``1xx``: 100 Continue, 102, 103 Early Hints) are read
and passed over, up to ``MAX_INTERIM`` of them; the caller sees the final
response. ``101 Switching Protocols`` is an ``UpstreamError``: no upgraded
connection is relayed.

Each connection is an ``asyncio.Protocol`` with one buffer, not a stream
reader and writer: a response that arrives whole (the usual case for a
small body) is parsed and read with one wake-up and no further awaits,
about half the client's work per request of the stream version. Reading
pauses while more than ``HIGH_WATER`` bytes wait unread and resumes as soon
as the response's reader wants more; writing a streamed body waits while
the transport's buffer is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import cast

from pyfaas.providers.base import Endpoint

MAX_HEAD = 64 * 1024
# Headers that frame the response: read here, and not passed on (but Content-Length).
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
READ_SIZE = 64 * 1024
HIGH_WATER = 256 * 1024  # unread bytes at which the connection stops reading
IDLE_PER_ENDPOINT = 256
MAX_INTERIM = 5  # 1xx responses before the final one (Go's transport: max1xxResponses)
# Safe to send again after the replica may have read them (Go's isReplayable). RFC 9110
# §9.2.2 also lets PUT and DELETE be retried; a function's PUT need not be idempotent.
REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
Body = bytes | AsyncIterable[bytes] | None
_Key = tuple[str, int, str | None]


class UpstreamError(Exception):
    """The replica could not be reached or broke the protocol."""


class ConnectFailed(UpstreamError):
    """No connection could be made: the request never left."""


class StaleConnection(UpstreamError):
    """The connection ended before any byte of a response arrived.

    ``sent`` is False when no byte of the request was accepted by the kernel,
    so the replica cannot have seen it; True when it may have.
    """

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class _Ended(Exception):
    """The replica closed the connection before the bytes asked for arrived."""

    def __init__(self, partial: bool) -> None:
        super().__init__("connection closed")
        self.partial = partial  # some of them had arrived


class _Conn(asyncio.Protocol):
    """One connection: what arrives goes into a buffer; a reader waits for any arrival."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False  # end of input, or the connection is gone
        self._reading_paused = False
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self._ended = True
        self._wake()
        return None  # close the transport: a replica that stops sending is done with it

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        self._wake()
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_exception(ConnectionResetError("connection lost while writing"))
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # -- used by the pool and the response ----------------------------------

    @property
    def reusable(self) -> bool:
        """Open, and nothing left over from the last response."""
        return not self._ended and not self._buffer and not self.closing

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def send_whole(self, data: bytes) -> None:
        """All of a request, on a connection with nothing else to write.

        ``ConnectionResetError`` if no byte of it was taken: the connection had
        ended, or the send that the transport tries at once failed, which leaves
        it closing when ``write`` returns (asyncio and uvloop alike). A failure
        after this returns may follow bytes the kernel took.
        """
        transport = self.transport
        if self._ended or transport is None:
            raise ConnectionResetError("connection closed")
        transport.write(data)
        if transport.is_closing():
            raise ConnectionResetError("connection failed when written to")

    def write(self, data: bytes) -> None:
        if self.closing:
            raise ConnectionResetError("connection closed")
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is full."""
        if self.closing:
            raise ConnectionResetError("connection closed")
        if self._writing_paused:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    def take_until(self, separator: bytes, limit: int) -> bytes | None:
        """Up to and including ``separator`` if it has arrived, else None (wait, then ask again).

        ``UpstreamError`` past ``limit`` bytes; ``_Ended`` if it never will arrive.
        """
        found = self._buffer.find(separator)
        if found >= 0:
            return self.take(found + len(separator))
        if len(self._buffer) > limit:
            raise UpstreamError(f"replica sent more than {limit} bytes without {separator!r}")
        if self._ended:
            raise _Ended(bool(self._buffer))
        return None

    async def read_until(self, separator: bytes, limit: int) -> bytes:
        while (found := self.take_until(separator, limit)) is None:
            await self.arrival()
        return found

    async def read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if self._ended:
                raise _Ended(bool(self._buffer))
            await self.arrival()
        return self.take(size)

    async def read_some(self, limit: int) -> bytes:
        """What is there, up to ``limit`` bytes; ``b""`` at the end of input."""
        while not self._buffer:
            if self._ended:
                return b""
            await self.arrival()
        return self.take(min(limit, len(self._buffer)))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self) -> None:
        await self._closed

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def take(self, size: int) -> bytes:
        """``size`` bytes from what has arrived; there must be as many."""
        buffer = self._buffer
        if size == len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:size])
            del buffer[:size]
        return data

    def arrival(self) -> asyncio.Future[None]:
        """A future done when more bytes arrive or the input ends; awaited by the reader."""
        if self._reading_paused and self.transport is not None:
            # The reader wants more than is buffered: let it come.
            self._reading_paused = False
            self.transport.resume_reading()
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        return waiter

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # a cancelled reader leaves its waiter cancelled
                waiter.set_result(None)


@dataclass
class UpstreamResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    content_length: int | None
    _conn: _Conn
    _pool: UpstreamPool
    _key: _Key
    _chunked: bool = False
    _until_close: bool = False
    _reusable: bool = True
    _done: bool = field(default=False)

    async def read(self) -> bytes:
        if self._chunked or self._until_close:
            return b"".join([chunk async for chunk in self.iter_chunks()])
        # A declared length: usually all here already, taken without a wait.
        size = self.content_length or 0
        conn = self._conn
        try:
            body = conn.take(size) if conn.buffered >= size else await conn.read_exactly(size)
        except _Ended as exc:
            raise UpstreamError("replica closed the connection mid-body") from exc
        self._done = True
        return body

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        try:
            if self._chunked:
                async for chunk in _read_chunked(conn):
                    yield chunk
            elif self._until_close:
                while chunk := await conn.read_some(READ_SIZE):
                    yield chunk
            else:
                remaining = self.content_length or 0
                while remaining > 0:
                    chunk = await conn.read_some(min(remaining, READ_SIZE))
                    if not chunk:
                        raise UpstreamError("replica closed the connection mid-body")
                    remaining -= len(chunk)
                    yield chunk
            self._done = True
        except (_Ended, ValueError) as exc:
            raise UpstreamError(f"reading the response failed: {exc}") from exc

    def release(self) -> None:
        """Return the connection to the pool if the body was read to its end."""
        if self._done and self._reusable and not self._until_close:
            self._pool.give_back(self._key, self._conn)
        else:
            self._conn.close()


class UpstreamPool:
    """Keep-alive connections per replica endpoint."""

    def __init__(self) -> None:
        self._idle: dict[_Key, list[_Conn]] = {}

    async def _connect(self, endpoint: Endpoint) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            if endpoint.unix_path is not None:
                _, conn = await loop.create_unix_connection(_Conn, endpoint.unix_path)
            else:
                _, conn = await loop.create_connection(_Conn, endpoint.host, endpoint.port)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {_where(endpoint)}: {exc}") from exc
        return conn

    def give_back(self, key: _Key, conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < IDLE_PER_ENDPOINT and conn.reusable:
            idle.append(conn)
        else:
            conn.close()

    def _pooled(self, key: _Key) -> _Conn | None:
        """An idle connection still open; ones the replica has closed meanwhile are dropped."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.reusable:
                return conn
            conn.close()
        return None

    async def request(
        self,
        endpoint: Endpoint,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
    ) -> UpstreamResponse:
        key = (endpoint.host, endpoint.port, endpoint.unix_path)
        conn = self._pooled(key)
        if conn is not None:
            try:
                return await self._exchange(conn, key, method, target, headers, body)
            except StaleConnection as exc:
                if not (isinstance(body, bytes | None) and (not exc.sent or method in REPLAYABLE)):
                    raise
        conn = await self._connect(endpoint)
        return await self._exchange(conn, key, method, target, headers, body)

    async def _exchange(
        self,
        conn: _Conn,
        key: _Key,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
    ) -> UpstreamResponse:
        sent = False  # whether any byte of the request may have reached the replica
        try:
            if isinstance(body, bytes | None):
                conn.send_whole(
                    _head(method, target, headers, _length(method, body)) + (body or b"")
                )
                sent = True
            else:
                sent = True
                await _send_streamed(conn, method, target, headers, body)
            # Not read_until: one coroutine less on every request's path.
            while (head := conn.take_until(b"\r\n\r\n", MAX_HEAD)) is None:
                await conn.arrival()
        except _Ended as exc:
            conn.close()
            if not exc.partial:
                raise StaleConnection(
                    "replica closed the connection before answering", sent
                ) from exc
            raise UpstreamError("replica sent a truncated response head") from exc
        except ConnectionError as exc:
            conn.close()
            raise StaleConnection(f"connection to replica failed: {exc}", sent) from exc
        except OSError as exc:
            conn.close()
            raise UpstreamError(f"exchange with replica failed: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        response = _parse_head(head, method, conn, self, key)
        if response.status >= 200:
            return response
        return await _final(response, method, conn, self, key)

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
                await conn.wait_closed()


def _head(method: str, target: str, headers: list[tuple[str, str]], framing: str | None) -> bytes:
    """The request head: request line, ``headers``, then the line framing the body, if any."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    if framing is not None:
        lines.append(framing)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _length(method: str, body: bytes | None) -> str | None:
    """The framing of a whole body (or none)."""
    if body is not None:
        return f"Content-Length: {len(body)}"
    return "Content-Length: 0" if method in ("POST", "PUT", "PATCH") else None


async def _send_streamed(
    conn: _Conn,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: AsyncIterable[bytes],
) -> None:
    conn.write(_head(method, target, headers, "Transfer-Encoding: chunked"))
    async for chunk in body:
        if chunk:
            conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            await conn.drain()
    conn.write(b"0\r\n\r\n")
    await conn.drain()


def _parse_head(
    head: bytes,
    method: str,
    conn: _Conn,
    pool: UpstreamPool,
    key: _Key,
) -> UpstreamResponse:
    try:
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        version, code, *reason = status_line.split(" ", 2)
        status = int(code)
    except ValueError as exc:
        conn.close()
        raise UpstreamError(f"replica sent a malformed status line: {head[:80]!r}") from exc
    headers: list[tuple[str, str]] = []
    length: int | None = None
    chunked, reusable = False, version != "HTTP/1.0"
    for line in header_lines:
        name, _, value = line.partition(":")
        lower = name.lower()
        if lower not in _FRAMING:
            headers.append((name, value.strip()))
        elif lower == "content-length":
            value = value.strip()
            length = int(value) if value.isdigit() else None
            headers.append((name, value))
        elif lower == "transfer-encoding":
            chunked = "chunked" in value.lower()
        else:  # connection
            reusable = reusable and "close" not in value.lower()
    no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
    response = UpstreamResponse(
        status,
        reason[0] if reason else "",
        headers,
        0 if no_body else length,
        conn,
        pool,
        key,
        chunked and not no_body,
        not no_body and not chunked and length is None,
        reusable,
    )
    if no_body:
        response._done = True
    return response


async def _final(
    response: UpstreamResponse, method: str, conn: _Conn, pool: UpstreamPool, key: _Key
) -> UpstreamResponse:
    """The final response after the interim one ``response``; interim heads are dropped."""
    try:
        for _ in range(MAX_INTERIM):
            if response.status == 101:
                raise UpstreamError("replica switched protocols (101), which is not relayed")
            if response.status < 100:
                raise UpstreamError(f"replica sent status {response.status}, not an HTTP status")
            try:
                head = await conn.read_until(b"\r\n\r\n", MAX_HEAD)
            except _Ended as exc:
                raise UpstreamError(
                    "replica closed the connection after an interim response"
                ) from exc
            response = _parse_head(head, method, conn, pool, key)
            if response.status >= 200:
                return response
        raise UpstreamError(f"replica sent more than {MAX_INTERIM} interim (1xx) responses")
    except BaseException:
        conn.close()
        raise


async def _read_chunked(conn: _Conn) -> AsyncIterator[bytes]:
    while True:
        size_line = await conn.read_until(b"\r\n", MAX_HEAD)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Skip trailers up to the blank line that ends the message.
            while (await conn.read_until(b"\r\n", MAX_HEAD)) != b"\r\n":
                pass
            return
        data = await conn.read_exactly(size)
        await conn.read_exactly(2)
        yield data


def _where(endpoint: Endpoint) -> str:
    return endpoint.unix_path or f"{endpoint.host}:{endpoint.port}"
