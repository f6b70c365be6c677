"""The synchronous invocation hot path: ``/function/{name}[.{ns}][/{rest}]``.

Per request the proxy resolves a replica through the provider (in-process),
forwards method, raw path, query, headers and body over a pooled keep-alive
connection (``pyfaas.upstream``), and relays status, headers and body
back. Redirects are never followed; ``Expect`` is not forwarded (the public
server answers it) and a replica's interim ``1xx`` responses are not
relayed, only its final one (``pyfaas.upstream.response``). Bodies are
streamed both ways; a small body with a declared length is read in one go
because that is cheaper than streaming it, and a response with a small
declared length is sent back as one. Served by ``pyfaas.httpd`` (see
``front``), not aiohttp.

A function scaled to zero is woken by its next call: the provider starts a
replica and ``resolve`` waits for it, so the call is held, not failed, for
up to ``PYFAAS_SCALE_FROM_ZERO_TIMEOUT``; past that it is answered 503 with
``Retry-After``. The queue-worker invokes through this path too, so an
asynchronous call is held alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from pyfaas._http import HOP_BY_HOP
from pyfaas.errors import (
    BadGateway,
    GatewayTimeout,
    Headers,
    MethodNotAllowed,
    NotFound,
    ServiceUnavailable,
)
from pyfaas.gateway.bodies import LimitedStream, check_declared, too_large
from pyfaas.gateway.callid import CALL_ID, SERVED_BY, SERVED_BY_VALUE, START_TIME, call_identity
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.gateway.refs import FunctionRefs
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.httpd.messages import Request, Response
from pyfaas.providers.base import Endpoint, Provider
from pyfaas.upstream import Address, Body, UpstreamError, UpstreamPool, UpstreamResponse

log = logging.getLogger("pyfaas.gateway")

PREFIX = "/function/"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"})
# Lower case, compared with name.lower(): a replica may write names in any case.
_DROP_REQUEST = HOP_BY_HOP | {"host", "content-length", CALL_ID.lower(), START_TIME.lower()}
_DROP_RESPONSE = HOP_BY_HOP | {"content-length"}
READ_WHOLE_BELOW = 256 * 1024  # declared bodies up to this size are read, not streamed
SEND_WHOLE_BELOW = 256 * 1024  # upstream bodies up to this size are sent as one response
ADDRESSES_KEPT = 4096  # replica addresses remembered before they are made anew
RETRY_AFTER = "5"  # seconds a caller is asked to wait when no replica became ready


class NoReplica(ServiceUnavailable):
    """No replica of the function became ready in time: try again later."""

    @property
    def headers(self) -> Headers:
        return (("Retry-After", RETRY_AFTER),)


class Proxy:
    """The ``/function/...`` handler; one per gateway."""

    def __init__(
        self,
        settings: GatewaySettings,
        provider: Provider,
        metrics: GatewayMetrics,
        upstreams: UpstreamPool,
        refs: FunctionRefs,
        admin: str | None = None,
    ) -> None:
        self._provider = provider
        self._admin = admin
        self._metrics = metrics
        self._upstreams = upstreams
        self._max_body = settings.max_body
        self._timeout = settings.upstream_timeout if settings.upstream_timeout > 0 else None
        self._wait = settings.scale_from_zero_timeout if settings.scale_from_zero else 0.0
        self._log_calls = settings.log_calls
        self._refs = refs
        self._addresses = _Addresses()

    async def handle(self, request: Request) -> Response:
        if request.method not in METHODS:
            raise MethodNotAllowed(f"method {request.method} is not allowed")
        raw_ref, slash, rest = request.path[len(PREFIX) :].partition("/")
        if not raw_ref:
            raise NotFound("404: Not Found")
        name, namespace, label = self._refs.split(raw_ref)
        length = check_declared(request.body.content_length, self._max_body)
        # Before resolving: a bad X-Call-Id must not scale a function up from zero.
        call_id, start = call_identity(request.header(CALL_ID))
        try:
            endpoint = await self._provider.resolve(name, namespace, self._wait)
        except NotFound:
            raise NotFound(f"error finding function {label}: not found") from None
        except ServiceUnavailable as exc:
            raise NoReplica(str(exc)) from None
        headers = _request_headers(request, endpoint, call_id, start, self._admin)
        body = await self._body(request, length)
        # The raw path keeps percent-encoding exactly as the caller sent it.
        target = slash + rest or "/"
        if request.query:
            target = f"{target}?{request.query}"
        self._metrics.start(label)
        began = time.perf_counter()
        status = 502
        try:
            upstream = await self._forward(request, endpoint, target, headers, body)
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

    async def _body(self, request: Request, length: int | None) -> Body:
        if length is not None and length <= READ_WHOLE_BELOW:
            return await request.body.read() if length else None
        return LimitedStream(request.body, self._max_body)

    async def _forward(
        self,
        request: Request,
        endpoint: Endpoint,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
    ) -> UpstreamResponse:
        address = self._addresses[endpoint.host, endpoint.port, endpoint.unix_path]
        try:
            async with asyncio.timeout(self._timeout):
                return await self._upstreams.request(address, request.method, target, headers, body)
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
        self, request: Request, upstream: UpstreamResponse, call_id: str, start: str
    ) -> Response:
        headers = [(k, v) for k, v in upstream.headers if k.lower() not in _DROP_RESPONSE]
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", request.header("Content-Type") or "text/plain"))
        headers += [(CALL_ID, call_id), (START_TIME, start), (SERVED_BY, SERVED_BY_VALUE)]
        return await response_from(upstream, headers, f"function {request.path}")


class _Addresses(dict[tuple[str, int, str | None], Address]):
    """The pool's address of each replica endpoint, made once and not on every call.

    A provider's ``Endpoint`` is where a replica listens; the pool dials an
    ``Address``. A hit is one look-up of a tuple; a miss makes the address.
    """

    def __missing__(self, key: tuple[str, int, str | None]) -> Address:
        if len(self) >= ADDRESSES_KEPT:
            self.clear()  # replicas come and go; the ones in use come back at once
        address = self[key] = Address(*key)
        return address


async def response_from(
    upstream: UpstreamResponse, headers: list[tuple[str, str]], what: str
) -> Response:
    """The upstream's answer with ``headers``: a small body read whole, a larger one streamed."""
    length = upstream.content_length
    if length is not None and length <= SEND_WHOLE_BELOW:
        try:
            body = await upstream.read()
        except UpstreamError as exc:
            raise BadGateway(f"{what} broke off: {exc}") from exc
        finally:
            upstream.release()
        return Response(upstream.status, headers, body)
    if length is not None:
        headers.append(("Content-Length", str(length)))
    return Response(upstream.status, headers, relay_body(upstream, what))


async def relay_body(upstream: UpstreamResponse, where: str) -> AsyncIterator[bytes]:
    """The upstream's body as it comes; its connection goes back to the pool at the end."""
    try:
        async for chunk in upstream.iter_chunks():
            yield chunk
    except UpstreamError as exc:
        # Headers are gone already: the server cuts the connection.
        log.warning("%s broke off its response: %s", where, exc)
        raise
    finally:
        upstream.release()


def _request_headers(
    request: Request, endpoint: Endpoint, call_id: str, start: str, admin: str | None
) -> list[tuple[str, str]]:
    # A value equal to the admin login is dropped whatever its header (auth.admin_login).
    headers = [(k, v) for k, v in request.headers if v != admin and k.lower() not in _DROP_REQUEST]
    host = endpoint.host if endpoint.unix_path is None else "localhost"
    headers.append(("Host", f"{host}:{endpoint.port}" if endpoint.port else host))
    headers.append((CALL_ID, call_id))
    headers.append((START_TIME, start))
    if request.header("X-Forwarded-For") is None and request.peer:
        headers.append(("X-Forwarded-For", request.peer))
    given_host = request.header("Host")
    if request.header("X-Forwarded-Host") is None and given_host:
        headers.append(("X-Forwarded-Host", given_host))
    return headers
