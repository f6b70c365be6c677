"""The gateway's public port: invocations served directly, everything else passed on.

``/function/...`` and ``/async-function/...`` are the hot paths, and they are
served here on ``pyfaas.httpd``, whose per-request cost is a fraction of
aiohttp's (docs/performance.md). Every other route (``/system``, ``/ui``,
``/metrics``, ``/healthz``) is the aiohttp application of ``app``, listening
on a private Unix socket: this front forwards those requests there as they
are, streaming both ways, over the same lean client the proxy uses.

Errors on the hot paths are rendered here, by ``errors.front_error``, as the
aiohttp side renders them: one line of ``text/plain`` with the error's status
and headers.
"""

from __future__ import annotations

from pyfaas._http import HOP_BY_HOP
from pyfaas.errors import BadGateway, MethodNotAllowed, PyfaasError
from pyfaas.gateway import async_submit, proxy
from pyfaas.gateway.bodies import LimitedStream
from pyfaas.gateway.errors import front_error
from pyfaas.gateway.proxy import Proxy, response_from
from pyfaas.gateway.refs import FunctionRefs
from pyfaas.gateway.state import GatewayState
from pyfaas.httpd.messages import Request, Response
from pyfaas.upstream import Address, Body, UpstreamError, UpstreamPool

_DROP = HOP_BY_HOP | {"content-length"}


class Front:
    """The handler of the public port."""

    def __init__(self, state: GatewayState, upstreams: UpstreamPool, internal: Address) -> None:
        self._state = state
        # One cache of split function references for both invocation routes.
        self._refs = FunctionRefs(state.settings.function_namespace)
        self._proxy = Proxy(
            state.settings, state.provider, state.metrics, upstreams, self._refs, state.admin
        )
        self._upstreams = upstreams
        self._internal = internal
        # The aiohttp side applies its own, per-route limits; this is the ceiling.
        self._ceiling = max(state.settings.max_body, state.settings.max_async_body) + 1

    async def handle(self, request: Request) -> Response:
        path = request.path
        try:
            if path.startswith(proxy.PREFIX):
                return await self._proxy.handle(request)
            if path.startswith(async_submit.PREFIX):
                return await async_submit.submit(self._state, self._refs, request)
            return await self._pass_on(request)
        except MethodNotAllowed as exc:
            if not exc.allow:
                # The proxy's 405 does not name its methods; the route table does.
                exc = MethodNotAllowed(exc.message, sorted(proxy.METHODS))
            return front_error(exc)
        except PyfaasError as exc:
            return front_error(exc)

    async def _pass_on(self, request: Request) -> Response:
        """The request as it came, to the aiohttp application, and its answer back."""
        headers = [(k, v) for k, v in request.headers if k.lower() not in _DROP]
        if request.peer and request.header("X-Forwarded-For") is None:
            headers.append(("X-Forwarded-For", request.peer))
        length = request.body.content_length
        body: Body = None
        if length:
            # An image archive (gateway.images) is streamed whatever its size, never held.
            small = length < self._ceiling and not request.path.startswith("/system/images/")
            body = await request.body.read() if small else request.body
        elif length is None:
            body = LimitedStream(request.body, self._ceiling)
        try:
            upstream = await self._upstreams.request(
                self._internal, request.method, request.target, headers, body
            )
        except UpstreamError as exc:
            raise BadGateway(f"gateway API unavailable: {exc}") from exc
        out = [(k, v) for k, v in upstream.headers if k.lower() not in _DROP]
        return await response_from(upstream, out, f"gateway API {request.path}")
