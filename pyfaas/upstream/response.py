"""A response read off a pooled connection: its head parsed, its body framed.

A body is framed by ``Content-Length``, by chunked encoding, or by the end
of the connection (HTTP/1.0 style); the framing headers are read here and
not passed on, but ``Content-Length``. Interim responses (``1xx``: 100
Continue, 102, 103 Early Hints) are read and passed over, up to
``MAX_INTERIM`` of them, so that the caller sees the final response.
``101 Switching Protocols`` is an ``UpstreamError``: no upgraded connection
is relayed. Once its body is read to the end, ``release`` hands the
connection back to the pool for the next request to the same address.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyfaas.upstream.address import Key
from pyfaas.upstream.connection import Connection, Ended
from pyfaas.upstream.errors import UpstreamError

if TYPE_CHECKING:
    from pyfaas.upstream.pool import UpstreamPool

MAX_HEAD = 64 * 1024
# Headers that frame the response: read here, and not passed on (but Content-Length).
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
READ_SIZE = 64 * 1024
MAX_INTERIM = 5  # 1xx responses before the final one (Go's transport: max1xxResponses)


@dataclass
class UpstreamResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    content_length: int | None
    _conn: Connection
    _pool: UpstreamPool
    _key: Key
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
        except Ended as exc:
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
        except (Ended, ValueError) as exc:
            raise UpstreamError(f"reading the response failed: {exc}") from exc

    def release(self) -> None:
        """Return the connection to the pool if the body was read to its end."""
        if self._done and self._reusable and not self._until_close:
            self._pool.give_back(self._key, self._conn)
        else:
            self._conn.close()


def parse_head(
    head: bytes,
    method: str,
    conn: Connection,
    pool: UpstreamPool,
    key: Key,
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


async def final_response(
    response: UpstreamResponse, method: str, conn: Connection, pool: UpstreamPool, key: Key
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
            except Ended as exc:
                raise UpstreamError(
                    "replica closed the connection after an interim response"
                ) from exc
            response = parse_head(head, method, conn, pool, key)
            if response.status >= 200:
                return response
        raise UpstreamError(f"replica sent more than {MAX_INTERIM} interim (1xx) responses")
    except BaseException:
        conn.close()
        raise


async def _read_chunked(conn: Connection) -> AsyncIterator[bytes]:
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
