"""Request bodies with a size limit, read whole or streamed.

A declared ``Content-Length`` above the limit is refused before a byte is
read; a chunked body is counted as it arrives and refused the moment it
passes the limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from pyfaas.errors import PayloadTooLarge


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than the limit of {limit} bytes")


def check_declared(request: web.Request, limit: int) -> int | None:
    """The declared length, raising ``PayloadTooLarge`` if it is above ``limit``."""
    length = request.content_length
    if length is not None and length > limit:
        raise too_large(limit)
    return length


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes."""
    check_declared(request, limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


class LimitedStream:
    """Streams a request body onwards; stops (and remembers) when it passes ``limit``."""

    def __init__(self, request: web.Request, limit: int) -> None:
        self._content = request.content
        self._limit = limit
        self.exceeded = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._content.iter_any():
            size += len(chunk)
            if size > self._limit:
                self.exceeded = True
                raise too_large(self._limit)
            yield chunk
