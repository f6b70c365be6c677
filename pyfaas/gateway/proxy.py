"""The synchronous invocation hot path: ``/function/{name}[.{ns}][/{rest}]``.

Per request the proxy resolves a replica through the provider (in-process),
forwards method, raw path, query, headers and body over a pooled keep-alive
connection, and relays status, headers and body back. Redirects are never
followed. Bodies are streamed in both directions; a small body with a
declared length is read in one go because that is cheaper than streaming it,
and a response that arrives in one chunk is sent back as one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, istr
from yarl import URL

from pyfaas.errors import BadGateway, GatewayTimeout, InvalidName, NotFound, PayloadTooLarge
from pyfaas.gateway.bodies import LimitedStream, check_declared, too_large
from pyfaas.gateway.callid import CALL_ID, SERVED_BY, SERVED_BY_VALUE, START_TIME, call_identity
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.naming import split_function_ref
from pyfaas.providers.base import Endpoint, Provider

log = logging.getLogger("pyfaas.gateway")

HOP_BY_HOP = frozenset(
    istr(h)
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "Te",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    )
)
_DROP_REQUEST = HOP_BY_HOP | {istr("Host")}
_DROP_RESPONSE = HOP_BY_HOP | {istr("Content-Length")}
_CONTENT_TYPE = istr("Content-Type")
READ_WHOLE_BELOW = 256 * 1024  # declared bodies up to this size are read, not streamed
SEND_WHOLE_BELOW = 256 * 1024  # upstream bodies up to this size are sent as one response
_REF_CACHE_SIZE = 4096


class Upstreams:
    """Pooled keep-alive client sessions: one for TCP replicas, one per Unix socket."""

    def __init__(self, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout if timeout > 0 else None)
        self._tcp: aiohttp.ClientSession | None = None
        self._unix: dict[str, aiohttp.ClientSession] = {}

    def _session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def session_for(self, endpoint: Endpoint) -> aiohttp.ClientSession:
        if endpoint.unix_path is None:
            if self._tcp is None:
                # limit=0: the replica's own max_inflight is the limit, not the pool.
                self._tcp = self._session(aiohttp.TCPConnector(limit=0, keepalive_timeout=60))
            return self._tcp
        session = self._unix.get(endpoint.unix_path)
        if session is None:
            connector = aiohttp.UnixConnector(path=endpoint.unix_path, limit=0)
            session = self._unix[endpoint.unix_path] = self._session(connector)
        return session

    async def close(self) -> None:
        sessions = [s for s in (self._tcp, *self._unix.values()) if s is not None]
        self._tcp, self._unix = None, {}
        for session in sessions:
            await session.close()


class Proxy:
    """The ``/function/...`` handler; one per app."""

    def __init__(
        self,
        settings: GatewaySettings,
        provider: Provider,
        metrics: GatewayMetrics,
        upstreams: Upstreams,
    ) -> None:
        self._provider = provider
        self._metrics = metrics
        self._upstreams = upstreams
        self._namespace = settings.function_namespace
        self._max_body = settings.max_body
        self._wait = settings.upstream_timeout if settings.scale_from_zero else 0.0
        self._log_calls = settings.log_calls
        self._refs: dict[str, tuple[str, str, str]] = {}

    def _split(self, ref: str) -> tuple[str, str, str]:
        found = self._refs.get(ref)
        if found is None:
            try:
                name, namespace = split_function_ref(ref, self._namespace)
            except InvalidName as exc:
                raise NotFound(f"error finding function {ref}: {exc}") from None
            found = (name, namespace, f"{name}.{namespace}")
            if len(self._refs) < _REF_CACHE_SIZE:
                self._refs[ref] = found
        return found

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name, namespace, label = self._split(request.match_info["ref"])
        length = check_declared(request, self._max_body)
        try:
            endpoint = await self._provider.resolve(name, namespace, self._wait)
        except NotFound:
            raise NotFound(f"error finding function {label}: not found") from None
        call_id, start = call_identity(request.headers)
        url = _upstream_url(endpoint, request.raw_path, request.match_info["ref"])
        headers = _request_headers(request, call_id, start)
        body = await self._body(request, length)
        self._metrics.start(label)
        began = time.perf_counter()
        status = 502
        try:
            response = await self._forward(request, endpoint, url, headers, body)
            status = response.status
            response.headers[CALL_ID] = call_id
            response.headers[START_TIME] = start
            response.headers[SERVED_BY] = SERVED_BY_VALUE
            return (
                await self._relay(request, response) if isinstance(response, _Pending) else response
            )
        finally:
            elapsed = time.perf_counter() - began
            self._metrics.finish(label, status, elapsed)
            if self._log_calls:
                log.debug(
                    "Forwarded [%s] to %s - [%d] - %.4fs",
                    request.method,
                    request.path,
                    status,
                    elapsed,
                )

    async def _body(self, request: web.Request, length: int | None) -> Any:
        if length is not None and length <= READ_WHOLE_BELOW:
            return await request.read() if length else None
        if length is None and not request.body_exists:
            return None
        if length is not None:
            # The declared length is within the limit; the server enforces it exactly.
            return request.content
        return LimitedStream(request, self._max_body)

    async def _forward(
        self,
        request: web.Request,
        endpoint: Endpoint,
        url: URL,
        headers: CIMultiDict[str],
        body: Any,
    ) -> web.StreamResponse:
        session = self._upstreams.session_for(endpoint)
        try:
            upstream = await session.request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            )
        except TimeoutError:
            raise GatewayTimeout(f"timed out waiting for function {request.path}") from None
        except (aiohttp.ClientError, OSError, PayloadTooLarge) as exc:
            if isinstance(body, LimitedStream) and body.exceeded:
                raise too_large(self._max_body) from None
            raise BadGateway(f"cannot reach function {request.path}: {exc}") from exc
        return await _answer(request, upstream)

    async def _relay(self, request: web.Request, pending: _Pending) -> web.StreamResponse:
        upstream = pending.upstream
        try:
            await pending.prepare(request)
            async for chunk in upstream.content.iter_any():
                await pending.write(chunk)
            await pending.write_eof()
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Headers are gone already: all we can do is cut the connection.
            log.warning("function %s broke off its response: %s", request.path, exc)
            if request.transport is not None:
                request.transport.close()
        finally:
            upstream.release()
        return pending


class _Pending(web.StreamResponse):
    """A response whose body is still to be streamed from ``upstream``."""

    def __init__(self, upstream: aiohttp.ClientResponse, headers: CIMultiDict[str]) -> None:
        super().__init__(status=upstream.status, reason=upstream.reason, headers=headers)
        self.upstream = upstream
        if upstream.content_length is not None:
            self.content_length = upstream.content_length


async def _answer(request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    headers = _response_headers(request, upstream.headers)
    length = upstream.content_length
    if length is None or length > SEND_WHOLE_BELOW:
        return _Pending(upstream, headers)
    try:
        body = await upstream.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise BadGateway(f"function {request.path} broke off its response: {exc}") from exc
    finally:
        upstream.release()
    return web.Response(status=upstream.status, reason=upstream.reason, body=body, headers=headers)


def _upstream_url(endpoint: Endpoint, raw_path: str, ref: str) -> URL:
    # Use the raw path so percent-encoding reaches the function unchanged.
    path, _, query = raw_path.partition("?")
    rest = path[len("/function/") + len(ref) :] or "/"
    return URL.build(
        scheme="http",
        host=endpoint.host,
        port=endpoint.port or None,
        path=rest,
        query_string=query,
        encoded=True,
    )


def _request_headers(request: web.Request, call_id: str, start: str) -> CIMultiDict[str]:
    incoming = request.headers
    headers = CIMultiDict((k, v) for k, v in incoming.items() if k not in _DROP_REQUEST)
    headers[CALL_ID] = call_id
    headers[START_TIME] = start
    if "X-Forwarded-For" not in headers:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            headers["X-Forwarded-For"] = f"{peer[0]}:{peer[1]}"
    if "X-Forwarded-Host" not in headers and request.host:
        headers["X-Forwarded-Host"] = request.host
    return headers


def _response_headers(request: web.Request, upstream: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    headers = CIMultiDict((k, v) for k, v in upstream.items() if k not in _DROP_RESPONSE)
    if _CONTENT_TYPE not in headers:
        headers[_CONTENT_TYPE] = request.headers.get(_CONTENT_TYPE, "text/plain")
    return headers
