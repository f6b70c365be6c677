"""The request and response the HTTP server hands to its handler.

Independent of the HTTP server underneath, so the runners (classic, http,
inproc) are written once. A request body is a stream: the classic and inproc
runners read it whole, the http runner forwards it chunk by chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field

from pyfaas._http import header_value
from pyfaas.errors import BadRequest

# Stop reading from the socket once this much unread body is buffered.
HIGH_WATER = 256 * 1024


class Body:
    """A request body fed by the server and read by a runner, with flow control."""

    def __init__(
        self,
        content_length: int | None,
        pause: Callable[[], None] | None = None,
        resume: Callable[[], None] | None = None,
    ) -> None:
        self.content_length = content_length  # None: chunked or unknown
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = content_length == 0
        self._error: str | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._pause = pause
        self._resume = resume
        self._paused = False
        self._discard = False
        # Called once, at the first read: the server answers ``Expect: 100-continue`` then.
        self.before_read: Callable[[Body], None] | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> Body:
        body = cls(len(data))
        if data:
            body.feed(data)
        body.feed_eof()
        return body

    # -- server side -------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._discard:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > HIGH_WATER and self._pause is not None and not self._paused:
            self._paused = True
            self._pause()
        self._wake()

    def feed_eof(self, error: str | None = None) -> None:
        if self._eof:
            return  # a body cut after its end is whole all the same
        self._eof = True
        self._error = error
        self._wake()

    def discard(self) -> None:
        """The response is done: drop whatever the runner did not read."""
        self._discard = True
        self._chunks.clear()
        self._size = 0
        self._unpause()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _unpause(self) -> None:
        if self._paused and self._resume is not None:
            self._paused = False
            self._resume()

    # -- runner side -------------------------------------------------------

    async def _next(self) -> bytes | None:
        if self.before_read is not None:
            before, self.before_read = self.before_read, None
            before(self)
        while not self._chunks:
            if self._eof:
                if self._error is not None:
                    raise BadRequest(f"reading the request body: {self._error}")
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None
        data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks.clear()
        self._size = 0
        self._unpause()
        return data

    async def read(self) -> bytes:
        parts: list[bytes] = []
        while (chunk := await self._next()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._next()) is not None:
            yield chunk


@dataclass(slots=True)
class Request:
    method: str
    path: str  # as sent, percent-encoded
    query: str  # raw query string, without the "?"
    headers: list[tuple[str, str]]  # in arrival order, names as sent
    body: Body
    http_version: str = "1.1"
    peer: str = ""  # the client's "host:port", when known

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    # bytes, or an iterable streamed as it comes (chunked unless a Content-Length is set)
    body: bytes | AsyncIterable[bytes] = b""


def text_response(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """A ``text/plain`` response as Go's ``http.Error`` writes it: one line and a newline."""
    out = [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
    out.extend(headers or [])
    return Response(status, out, (text + "\n").encode())
