"""Request bodies with a size limit, read whole or streamed.

A declared ``Content-Length`` above the limit is refused before a byte is
read; a chunked body is counted as it arrives and refused the moment it
passes the limit. The same rules serve both servers: the invocation routes
hand in the body of ``pyfaas.httpd``, the ``/system`` routes aiohttp's.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from aiohttp import web

from pyfaas.errors import PayloadTooLarge


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")


def check_declared(length: int | None, limit: int) -> int | None:
    """The declared length, raising ``PayloadTooLarge`` if it is above ``limit``."""
    if length is not None and length > limit:
        raise too_large(limit)
    return length


async def read_bounded(chunks: AsyncIterable[bytes], declared: int | None, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes."""
    check_declared(declared, limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


async def read_request(request: web.Request, limit: int) -> bytes:
    """An aiohttp request's whole body, at most ``limit`` bytes."""
    return await read_bounded(request.content.iter_any(), request.content_length, limit)


class LimitedStream:
    """Streams a request body onwards; stops (and remembers) when it passes ``limit``."""

    def __init__(self, chunks: AsyncIterable[bytes], limit: int) -> None:
        self._chunks_in = chunks
        self._limit = limit
        self.exceeded = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._chunks_in:
            size += len(chunk)
            if size > self._limit:
                self.exceeded = True
                raise too_large(self._limit)
            yield chunk
