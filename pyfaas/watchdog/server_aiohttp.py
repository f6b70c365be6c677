"""The watchdog on aiohttp's low-level server, kept for comparison.

``PYFAAS_WATCHDOG_SERVER=aiohttp`` selects it; the default httptools server
measured faster (docs/performance.md). Same ``Listener`` shape.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.httpd.messages import Body, Request
from pyfaas.httpd.server import Handler


class Listener:
    def __init__(self, handler: Handler, idle_timeout: float) -> None:
        self._handler = handler
        self._server = web.Server(self._handle, keepalive_timeout=idle_timeout or 75.0)
        self._listening: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._listening = await loop.create_server(self._server, sock=sock)

    def stop_accepting(self) -> None:
        if self._listening is not None:
            self._listening.close()

    async def drain(self, grace: float) -> bool:
        await self._server.shutdown(grace)
        return True

    def abort(self) -> None:
        return None

    async def _handle(self, raw: BaseRequest) -> web.StreamResponse:
        length = raw.content_length if not raw.headers.get("Transfer-Encoding") else None
        body = Body(length if length is not None or raw.headers.get("Transfer-Encoding") else 0)
        request = Request(
            method=raw.method,
            path=raw.raw_path.split("?", 1)[0],
            query=raw.query_string,
            headers=list(raw.headers.items()),
            body=body,
        )
        feeder = asyncio.create_task(_feed(raw, body))
        try:
            response = await self._handler(request)
        finally:
            feeder.cancel()
        if isinstance(response.body, bytes):
            return web.Response(
                status=response.status, headers=response.headers, body=response.body
            )
        out = web.StreamResponse(status=response.status, headers=response.headers)
        await out.prepare(raw)
        async for chunk in response.body:
            await out.write(chunk)
        await out.write_eof()
        return out


async def _feed(raw: BaseRequest, body: Body) -> None:
    chunks: AsyncIterator[bytes] = raw.content.iter_any()
    async for chunk in chunks:
        body.feed(chunk)
    body.feed_eof()
