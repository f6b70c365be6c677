"""Invoking a queued call through the gateway, over pooled keep-alive connections.

The call is replayed as it was submitted: its method, path, query and
headers (minus hop-by-hop ones and ``Content-Length``), to
``{gateway}/function/{name}.{namespace}{path}``. Redirects are not followed
and bodies are not decompressed, so the callback receives exactly what the
function answered. A transport failure or time-out becomes status 503 with
the error's text, as in the OpenFaaS queue-worker; a failure to connect at
all is marked ``reached=False``: the function cannot have run. An
``http://`` gateway is called with the lean HTTP/1.1 client the gateway
uses too (``pyfaas.upstream``), a fraction of a general client's work per
call; an ``https://`` one through the aiohttp session.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDict
from yarl import URL

from pyfaas import __version__
from pyfaas._http import HOP_BY_HOP, header_value
from pyfaas.credentials import Credentials
from pyfaas.queue.envelope import QueuedCall
from pyfaas.upstream import Address, ConnectFailed, UpstreamError, UpstreamPool

USER_AGENT = f"pyfaas-queue-worker/{__version__}"
_NOT_FORWARDED = HOP_BY_HOP | {"content-length", "host", "user-agent"}
UNREACHABLE = 503
# Failures before the request was sent: the gateway never saw the call.
NOT_CONNECTED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, ConnectFailed)


@dataclass
class InvokeResult:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    error: str | None = None  # set when the gateway could not be reached
    seconds: float = 0.0
    reached: bool = True  # False: no connection to the gateway, so the function did not run

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


Invoke = Callable[[QueuedCall], Awaitable[InvokeResult]]


async def until_reachable(
    invoke: Invoke, call: QueuedCall, waits: tuple[float, float]
) -> InvokeResult:
    """Invoke again, after a first try that could not connect, until the gateway answers.

    ``waits`` is the first and the longest wait between tries (doubling in between).
    """
    wait, longest = waits
    result = InvokeResult(0, reached=False)
    while not result.reached:
        await asyncio.sleep(wait)
        wait = min(wait * 2, longest)
        result = await invoke(call)
    return result


def new_session(
    max_inflight: int, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """A session of the worker's: pooled, keep-alive, no cookies, no env proxies."""
    connector = aiohttp.TCPConnector(
        limit=max(max_inflight * 2, 16), keepalive_timeout=30, resolver=resolver
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
    )


def forwarded_headers(call: QueuedCall) -> CIMultiDict[str]:
    return CIMultiDict(forwarded_header_list(call))


def forwarded_header_list(call: QueuedCall) -> list[tuple[str, str]]:
    headers = [
        (key, value)
        for key, value in call.headers
        if key.lower() not in _NOT_FORWARDED and "\r" not in value and "\n" not in value
    ]
    headers.append(("User-Agent", USER_AGENT))
    return headers


class GatewayClient:
    """The worker's view of the gateway: invoke a function, read its annotations."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        gateway_url: str,
        *,
        credentials: Credentials | None = None,
        timeout: float = 300.0,
    ) -> None:
        self._session = session
        self._base = gateway_url.rstrip("/")
        self._auth_headers = {"Authorization": basic_auth(credentials)} if credentials else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=30)
        self._meta_timeout = aiohttp.ClientTimeout(total=10)
        url = URL(self._base)
        self._lean: tuple[UpstreamPool, Address, str] | None = None
        if url.scheme == "http" and url.host and not url.path.strip("/"):
            host = f"{url.host}:{url.port}" if url.port else url.host
            self._lean = (UpstreamPool(), Address(url.host, url.port or 80), host)

    async def close(self) -> None:
        if self._lean is not None:
            await self._lean[0].close()

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._session

    def function_url(self, call: QueuedCall) -> str:
        url = f"{self._base}/function/{call.function_ref}{call.path or '/'}"
        return f"{url}?{call.query}" if call.query else url

    async def invoke(self, call: QueuedCall) -> InvokeResult:
        if self._lean is not None:
            return await self._invoke_lean(call, *self._lean)
        started = time.monotonic()
        try:
            async with self._session.request(
                call.method,
                URL(self.function_url(call), encoded=True),
                headers=forwarded_headers(call),
                data=call.body,
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                body = await response.read()
                headers = list(response.headers.items())
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            return InvokeResult(
                status=UNREACHABLE,
                error=describe(exc, self._timeout.total),
                seconds=time.monotonic() - started,
                reached=not isinstance(exc, NOT_CONNECTED),
            )
        return InvokeResult(status, headers, body, None, time.monotonic() - started)

    async def _invoke_lean(
        self, call: QueuedCall, pool: UpstreamPool, address: Address, host: str
    ) -> InvokeResult:
        started = time.monotonic()
        target = f"/function/{call.function_ref}{call.path or '/'}"
        if call.query:
            target = f"{target}?{call.query}"
        headers = [("Host", host), *forwarded_header_list(call)]
        try:
            async with asyncio.timeout(self._timeout.total):
                response = await pool.request(address, call.method, target, headers, call.body)
                try:
                    body = await response.read()
                finally:
                    response.release()
        except (TimeoutError, UpstreamError, OSError, ValueError) as exc:
            return InvokeResult(
                status=UNREACHABLE,
                error=describe(exc, self._timeout.total),
                seconds=time.monotonic() - started,
                reached=not isinstance(exc, NOT_CONNECTED),
            )
        seconds = time.monotonic() - started
        return InvokeResult(response.status, response.headers, body, None, seconds)

    async def function_annotations(self, name: str, namespace: str) -> dict[str, str] | None:
        """The function's annotations; ``None`` if the gateway says it does not exist.

        Raises ``aiohttp.ClientError`` or ``asyncio.TimeoutError`` when the
        gateway cannot answer; the caller decides what a failed look-up means.
        """
        url = f"{self._base}/system/function/{name}"
        async with self._session.get(
            url,
            params={"namespace": namespace},
            headers=self._auth_headers,
            allow_redirects=False,
            timeout=self._meta_timeout,
        ) as response:
            if response.status == 404:
                return None
            response.raise_for_status()
            status: Any = await response.json(content_type=None)
        annotations = status.get("annotations") if isinstance(status, dict) else None
        if not isinstance(annotations, dict):
            return {}
        return {str(k): str(v) for k, v in annotations.items()}


def basic_auth(credentials: Credentials) -> str:
    token = f"{credentials.user}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(token).decode()


def describe(exc: BaseException, timeout: float | None) -> str:
    """One line for a transport failure."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g}s" if timeout else "timed out"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
