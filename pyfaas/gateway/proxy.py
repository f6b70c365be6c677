"""The synchronous invocation hot path: ``/function/{name}[.{ns}][/{rest}]``.

Per request the proxy resolves a replica through the provider (in-process),
forwards method, raw path, query, headers and body over a pooled keep-alive
connection (``pyfaas.gateway.upstream``), and relays status, headers and
body back. Redirects are never followed. Bodies are streamed both ways; a
small body with a declared length is read in one go because that is cheaper
than streaming it, and a response with a small declared length is sent back
as one.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from multidict import CIMultiDict, istr

from pyfaas._http import HOP_BY_HOP
from pyfaas.errors import BadGateway, GatewayTimeout, InvalidName, NotFound
from pyfaas.gateway.bodies import LimitedStream, check_declared, too_large
from pyfaas.gateway.callid import CALL_ID, SERVED_BY, SERVED_BY_VALUE, START_TIME, call_identity
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.gateway.upstream import Body, UpstreamError, UpstreamPool, UpstreamResponse
from pyfaas.naming import split_function_ref
from pyfaas.providers.base import Endpoint, Provider

log = logging.getLogger("pyfaas.gateway")

# Lower case, compared with name.lower(): a replica may write names in any case.
_DROP_REQUEST = HOP_BY_HOP | {"host", "content-length"}
_DROP_RESPONSE = HOP_BY_HOP | {"content-length"}
_CONTENT_TYPE = istr("Content-Type")
READ_WHOLE_BELOW = 256 * 1024  # declared bodies up to this size are read, not streamed
SEND_WHOLE_BELOW = 256 * 1024  # upstream bodies up to this size are sent as one response
_REF_CACHE_SIZE = 4096


class Proxy:
    """The ``/function/...`` handler; one per app."""

    def __init__(
        self,
        settings: GatewaySettings,
        provider: Provider,
        metrics: GatewayMetrics,
        upstreams: UpstreamPool,
    ) -> None:
        self._provider = provider
        self._metrics = metrics
        self._upstreams = upstreams
        self._namespace = settings.function_namespace
        self._max_body = settings.max_body
        self._timeout = settings.upstream_timeout if settings.upstream_timeout > 0 else None
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
        ref = request.match_info["ref"]
        name, namespace, label = self._split(ref)
        length = check_declared(request, self._max_body)
        try:
            endpoint = await self._provider.resolve(name, namespace, self._wait)
        except NotFound:
            raise NotFound(f"error finding function {label}: not found") from None
        call_id, start = call_identity(request.headers)
        headers = _request_headers(request, endpoint, call_id, start)
        body = await self._body(request, length)
        self._metrics.start(label)
        began = time.perf_counter()
        status = 502
        try:
            upstream = await self._forward(request, endpoint, ref, headers, body)
            status = upstream.status
            return await self._relay(request, upstream, call_id, start)
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

    async def _body(self, request: web.Request, length: int | None) -> Body:
        if length is not None and length <= READ_WHOLE_BELOW:
            return await request.read() if length else None
        if length is None and not request.body_exists:
            return None
        return LimitedStream(request, self._max_body)

    async def _forward(
        self,
        request: web.Request,
        endpoint: Endpoint,
        ref: str,
        headers: list[tuple[str, str]],
        body: Body,
    ) -> UpstreamResponse:
        path, _, query = request.raw_path.partition("?")
        # The raw path keeps percent-encoding exactly as the caller sent it.
        target = path[len("/function/") + len(ref) :] or "/"
        if query:
            target = f"{target}?{query}"
        try:
            async with asyncio.timeout(self._timeout):
                return await self._upstreams.request(
                    endpoint, request.method, target, headers, body
                )
        except TimeoutError:
            raise GatewayTimeout(f"timed out waiting for function {request.path}") from None
        except UpstreamError as exc:
            if isinstance(body, LimitedStream) and body.exceeded:
                raise too_large(self._max_body) from None
            raise BadGateway(f"cannot reach function {request.path}: {exc}") from exc
        except Exception:
            if isinstance(body, LimitedStream) and body.exceeded:
                raise too_large(self._max_body) from None
            raise

    async def _relay(
        self, request: web.Request, upstream: UpstreamResponse, call_id: str, start: str
    ) -> web.StreamResponse:
        headers = CIMultiDict(
            (k, v) for k, v in upstream.headers if k.lower() not in _DROP_RESPONSE
        )
        if _CONTENT_TYPE not in headers:
            headers[_CONTENT_TYPE] = request.headers.get(_CONTENT_TYPE, "text/plain")
        headers[CALL_ID] = call_id
        headers[START_TIME] = start
        headers[SERVED_BY] = SERVED_BY_VALUE
        length = upstream.content_length
        try:
            if length is not None and length <= SEND_WHOLE_BELOW:
                try:
                    body = await upstream.read()
                except UpstreamError as exc:
                    raise BadGateway(f"function {request.path} broke off: {exc}") from exc
                return web.Response(
                    status=upstream.status, reason=upstream.reason, body=body, headers=headers
                )
            return await self._stream(request, upstream, headers)
        finally:
            upstream.release()

    async def _stream(
        self, request: web.Request, upstream: UpstreamResponse, headers: CIMultiDict[str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        await response.prepare(request)
        try:
            async for chunk in upstream.iter_chunks():
                await response.write(chunk)
            await response.write_eof()
        except UpstreamError as exc:
            # Headers are gone already: all we can do is cut the connection.
            log.warning("function %s broke off its response: %s", request.path, exc)
            if request.transport is not None:
                request.transport.close()
        return response


def _request_headers(
    request: web.Request, endpoint: Endpoint, call_id: str, start: str
) -> list[tuple[str, str]]:
    incoming = request.headers
    headers = [
        (k, v)
        for k, v in incoming.items()
        if k.lower() not in _DROP_REQUEST and k != CALL_ID and k != START_TIME
    ]
    host = endpoint.host if endpoint.unix_path is None else "localhost"
    headers.append(("Host", f"{host}:{endpoint.port}" if endpoint.port else host))
    headers.append((CALL_ID, call_id))
    headers.append((START_TIME, start))
    if "X-Forwarded-For" not in incoming:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            headers.append(("X-Forwarded-For", f"{peer[0]}:{peer[1]}"))
    if "X-Forwarded-Host" not in incoming and request.host:
        headers.append(("X-Forwarded-Host", request.host))
    return headers
