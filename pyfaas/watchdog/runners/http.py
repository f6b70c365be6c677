"""HTTP mode: start ``fprocess`` once and proxy every request to ``upstream_url``.

As of-watchdog's http mode: the function is a long-running HTTP server; the
watchdog reports healthy once it accepts connections, streams bodies both
ways, never follows redirects and adds ``X-Duration-Seconds``. If the child
exits, ``failed`` resolves and the watchdog exits so the replica is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import aiohttp

from pyfaas._http import HOP_BY_HOP
from pyfaas.errors import GatewayTimeout, PyfaasError
from pyfaas.httpd.messages import Request, Response
from pyfaas.watchdog.log import GoLog
from pyfaas.watchdog.runners.child import Child
from pyfaas.watchdog.settings import WatchdogSettings


class HttpRunner:
    internal = "of-watchdog"

    def __init__(self, settings: WatchdogSettings, environ: Mapping[str, str], log: GoLog) -> None:
        assert settings.upstream_url is not None
        self._settings = settings
        self._upstream = settings.upstream_url
        self._child = Child(settings.fprocess, environ, log, prefix_logs=settings.prefix_logs)
        self._session: aiohttp.ClientSession | None = None

    @property
    def failed(self) -> asyncio.Future[int]:
        return self._child.exited

    async def start(self) -> None:
        await self._child.start()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        parts = urlsplit(self._upstream)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await self._child.wait_for_port(parts.hostname or "127.0.0.1", port)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self._child.stop()

    async def __call__(self, request: Request) -> Response:
        assert self._session is not None
        started = time.monotonic()
        timeout = self._settings.exec_timeout or None
        try:
            upstream = await asyncio.wait_for(self._send(request), timeout)
        except TimeoutError as exc:
            raise GatewayTimeout(f"function did not answer within {timeout:g}s") from exc
        except aiohttp.ClientError as exc:
            raise PyfaasError(f"cannot reach the function at {self._upstream}: {exc}") from exc
        duration = time.monotonic() - started
        headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        headers.append(("X-Duration-Seconds", f"{duration:f}"))
        return Response(upstream.status, headers, _relay(upstream))

    async def _send(self, request: Request) -> aiohttp.ClientResponse:
        assert self._session is not None
        headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
        length = request.body.content_length
        data = None if length == 0 else _stream(request)
        return await self._session.request(
            request.method,
            self._upstream + request.target,
            headers=headers,
            data=data,
            allow_redirects=False,
            skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
        )


async def _stream(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.body:
        yield chunk


async def _relay(upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The function's response body, chunk by chunk; the connection is released after."""
    try:
        async for chunk in upstream.content.iter_any():
            yield chunk
    except aiohttp.ClientError:
        # The function broke off mid-body; the client sees a short body.
        upstream.close()
    finally:
        with contextlib.suppress(Exception):
            upstream.release()
