"""The watchdog on aiohttp's low-level server, kept for comparison.

``PYFAAS_WATCHDOG_SERVER=aiohttp`` selects it; the default httptools server
measured faster (docs/performance.md). Same ``Listener`` shape. Of the
server's ``Limits`` aiohttp applies the idle timeout and the sizes (its
answer to an oversize head is a 400); it has no head, body or write timeout
and no connection cap, which only the default server enforces.
``Expect: 100-continue`` is answered here as aiohttp's router would (its
low-level server does not): one 100 before the body is read, 417 for any
other expectation, and the handler never sees the header.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.errors import ExpectationFailed
from pyfaas.httpd.limits import Limits
from pyfaas.httpd.messages import Body, Request
from pyfaas.httpd.server import Handler
from pyfaas.httpd.wire import CONTINUE
from pyfaas.watchdog.errors import render


class Listener:
    def __init__(self, handler: Handler, limits: Limits) -> None:
        self._handler = handler
        self._server = web.Server(
            self._handle,
            keepalive_timeout=limits.idle_timeout or 75.0,
            max_line_size=limits.max_request_line_bytes,
            max_field_size=limits.max_header_bytes,
        )
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
        headers = list(raw.headers.items())
        expect = raw.headers.get("Expect")
        if expect is not None:
            if expect.strip().lower() != "100-continue":
                refused = render(ExpectationFailed(f"unsupported expectation: {expect}"))
                return web.Response(status=417, headers=refused.headers, body=refused.body)
            headers = [(k, v) for k, v in headers if k.lower() != "expect"]
            if raw.version >= (1, 1) and body.content_length != 0:
                await raw.writer.write(CONTINUE)
                raw.writer.output_size = 0  # the response proper has not begun
        request = Request(
            method=raw.method,
            path=raw.raw_path.split("?", 1)[0],
            query=raw.query_string,
            headers=headers,
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
