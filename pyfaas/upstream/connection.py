"""One pooled connection, as an ``asyncio.Protocol`` with one buffer.

Not a stream reader and writer: a response that arrives whole (the usual
case for a small body) is parsed and read with one wake-up and no further
awaits, about half the client's work per request of the stream version.
Reading pauses while more than ``HIGH_WATER`` bytes wait unread and resumes
as soon as the response's reader wants more; writing a streamed body waits
while the transport's buffer is full.
"""

from __future__ import annotations

import asyncio
from typing import cast

from pyfaas.upstream.errors import UpstreamError

HIGH_WATER = 256 * 1024  # unread bytes at which the connection stops reading


class Ended(Exception):
    """The server closed the connection before the bytes asked for arrived."""

    def __init__(self, partial: bool) -> None:
        super().__init__("connection closed")
        self.partial = partial  # some of them had arrived


class Connection(asyncio.Protocol):
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
        return None  # close the transport: a server that stops sending is done with it

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

        ``UpstreamError`` past ``limit`` bytes; ``Ended`` if it never will arrive.
        """
        found = self._buffer.find(separator)
        if found >= 0:
            return self.take(found + len(separator))
        if len(self._buffer) > limit:
            raise UpstreamError(f"replica sent more than {limit} bytes without {separator!r}")
        if self._ended:
            raise Ended(bool(self._buffer))
        return None

    async def read_until(self, separator: bytes, limit: int) -> bytes:
        while (found := self.take_until(separator, limit)) is None:
            await self.arrival()
        return found

    async def read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if self._ended:
                raise Ended(bool(self._buffer))
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
