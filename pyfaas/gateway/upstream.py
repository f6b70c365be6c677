"""A lean HTTP/1.1 client for the gateway -> replica hop, over pooled keep-alive streams.

The gateway talks to replicas it started itself, on loopback or a Unix
socket, so it needs only a small, strict part of HTTP/1.1: one request at a
time per connection, bodies framed by ``Content-Length`` or chunked, no
redirects, no cookies, no decompression. Doing just that costs a fraction of
a general client's per-request work (see docs/performance.md). A
pooled connection that the replica closed while idle is detected on first
use and the request is retried once on a fresh one, when its body allows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

from pyfaas.providers.base import Endpoint

MAX_HEAD = 64 * 1024
READ_SIZE = 64 * 1024
IDLE_PER_ENDPOINT = 256
Body = bytes | AsyncIterable[bytes] | None


class UpstreamError(Exception):
    """The replica could not be reached or broke the protocol."""


class ConnectFailed(UpstreamError):
    """No connection could be made: the request never left."""


class StaleConnection(UpstreamError):
    """A pooled connection was closed before the request reached the replica."""


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


@dataclass
class UpstreamResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    content_length: int | None
    _conn: _Conn
    _pool: UpstreamPool
    _key: tuple[str, int, str | None]
    _chunked: bool = False
    _until_close: bool = False
    _reusable: bool = True
    _done: bool = field(default=False)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        reader = self._conn.reader
        try:
            if self._chunked:
                async for chunk in _read_chunked(reader):
                    yield chunk
            elif self._until_close:
                while chunk := await reader.read(READ_SIZE):
                    yield chunk
            else:
                remaining = self.content_length or 0
                while remaining > 0:
                    chunk = await reader.read(min(remaining, READ_SIZE))
                    if not chunk:
                        raise UpstreamError("replica closed the connection mid-body")
                    remaining -= len(chunk)
                    yield chunk
            self._done = True
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
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
        self._idle: dict[tuple[str, int, str | None], list[_Conn]] = {}

    async def _connect(self, endpoint: Endpoint) -> _Conn:
        try:
            if endpoint.unix_path is not None:
                reader, writer = await asyncio.open_unix_connection(endpoint.unix_path)
            else:
                reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {_where(endpoint)}: {exc}") from exc
        return _Conn(reader, writer)

    def give_back(self, key: tuple[str, int, str | None], conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < IDLE_PER_ENDPOINT and not conn.writer.is_closing():
            idle.append(conn)
        else:
            conn.close()

    async def request(
        self,
        endpoint: Endpoint,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
    ) -> UpstreamResponse:
        key = (endpoint.host, endpoint.port, endpoint.unix_path)
        idle = self._idle.get(key)
        if idle:
            conn = idle.pop()
            try:
                return await self._exchange(conn, key, method, target, headers, body)
            except StaleConnection:
                if not isinstance(body, bytes | None):
                    raise UpstreamError("replica closed an idle connection") from None
        conn = await self._connect(endpoint)
        return await self._exchange(conn, key, method, target, headers, body)

    async def _exchange(
        self,
        conn: _Conn,
        key: tuple[str, int, str | None],
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
    ) -> UpstreamResponse:
        try:
            await _send(conn.writer, method, target, headers, body)
            head = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            conn.close()
            if not exc.partial:
                raise StaleConnection("connection closed before a response") from exc
            raise UpstreamError("replica sent a truncated response head") from exc
        except (OSError, asyncio.LimitOverrunError) as exc:
            conn.close()
            if isinstance(exc, ConnectionError):
                raise StaleConnection(str(exc)) from exc
            raise UpstreamError(f"exchange with replica failed: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return _parse_head(head, method, conn, self, key)

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
                with contextlib.suppress(OSError):
                    await conn.writer.wait_closed()


async def _send(
    writer: asyncio.StreamWriter,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: Body,
) -> None:
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    if isinstance(body, bytes):
        lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    elif body is None:
        if method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    else:
        lines.append("Transfer-Encoding: chunked")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        async for chunk in body:
            if chunk:
                writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                await writer.drain()
        writer.write(b"0\r\n\r\n")
    await writer.drain()


def _parse_head(
    head: bytes,
    method: str,
    conn: _Conn,
    pool: UpstreamPool,
    key: tuple[str, int, str | None],
) -> UpstreamResponse:
    try:
        text = head.decode("latin-1")
        status_line, *header_lines = text[:-4].split("\r\n")
        version, code, *reason = status_line.split(" ", 2)
        status = int(code)
    except ValueError as exc:
        conn.close()
        raise UpstreamError(f"replica sent a malformed status line: {head[:80]!r}") from exc
    headers: list[tuple[str, str]] = []
    length: int | None = None
    chunked, reusable = False, True
    for line in header_lines:
        name, _, value = line.partition(":")
        value = value.strip()
        lower = name.lower()
        if lower == "content-length":
            length = int(value) if value.isdigit() else None
        elif lower == "transfer-encoding":
            chunked = "chunked" in value.lower()
            continue
        elif lower == "connection":
            reusable = "close" not in value.lower()
            continue
        headers.append((name, value))
    if version == "HTTP/1.0":
        reusable = False
    no_body = method == "HEAD" or status in (204, 304) or 100 <= status < 200
    response = UpstreamResponse(
        status=status,
        reason=reason[0] if reason else "",
        headers=headers,
        content_length=0 if no_body else length,
        _conn=conn,
        _pool=pool,
        _key=key,
        _chunked=chunked and not no_body,
        _until_close=not no_body and not chunked and length is None,
        _reusable=reusable,
    )
    if no_body:
        response._done = True
    return response


async def _read_chunked(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Skip trailers up to the blank line that ends the message.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


def _where(endpoint: Endpoint) -> str:
    return endpoint.unix_path or f"{endpoint.host}:{endpoint.port}"
