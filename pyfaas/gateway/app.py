"""The gateway's API application: ``create_app(settings, provider, queue, credentials)``.

The aiohttp application of every route but the invocations, which the
front serves (``listener.GatewayServer`` puts the two together). Everything
the app needs is passed in, and everything it makes (its state with the
metrics registry, the autoscaler and pruning tasks) belongs to the
returned ``web.Application``; nothing is process-global. The caller owns
the provider's and the queue's lifecycles.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from importlib import resources

from aiohttp import web
from aiohttp.typedefs import Middleware

from pyfaas.credentials import Credentials
from pyfaas.errors import PyfaasError
from pyfaas.gateway import calls, dead_letters, hosts, images, logs, portal, secrets, system
from pyfaas.gateway.auth import auth_middleware
from pyfaas.gateway.autoscale import Autoscaler
from pyfaas.gateway.errors import error_middleware
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.gateway.pruning import Pruner
from pyfaas.gateway.service_metrics import refresh_service_gauges
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.gateway.state import STATE, GatewayState
from pyfaas.providers.base import Provider
from pyfaas.queue.base import Queue

log = logging.getLogger("pyfaas.gateway")
PRUNER = web.AppKey("pyfaas.gateway.pruner", Pruner)


def create_app(
    settings: GatewaySettings,
    provider: Provider,
    queue: Queue | None,
    credentials: Credentials | None,
) -> web.Application:
    if settings.basic_auth and credentials is None:
        raise ValueError("basic_auth is enabled but no credentials were given")
    middlewares: list[Middleware] = [error_middleware]
    if settings.basic_auth and credentials is not None:
        middlewares.append(auth_middleware(credentials))
    app = web.Application(
        middlewares=middlewares,
        # Limits are enforced per route; this is the ceiling.
        client_max_size=max(settings.max_body, settings.max_async_body) + 1,
        handler_args={"max_field_size": 16384},
    )
    state = GatewayState(settings, provider, queue, credentials, GatewayMetrics())
    app[STATE] = state
    system.add_routes(app)
    secrets.add_routes(app)
    logs.add_routes(app)
    calls.add_routes(app)
    dead_letters.add_routes(app)
    hosts.add_routes(app)
    images.add_routes(app)
    portal.add_routes(app)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/system/openapi.yml", _openapi)
    app.cleanup_ctx.append(_lifecycle(state))
    return app


def _lifecycle(state: GatewayState) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        settings = state.settings
        scaler = Autoscaler(
            # A cluster host's autoscaler scales this host's replicas only (docs/cluster.md).
            getattr(state.provider, "autoscaled", state.provider),
            state.metrics,
            settings.function_namespace,
            queue=state.queue,
            down_window=settings.scale_down_window,
            zero_duration=settings.scale_zero_duration,
            interval=settings.autoscale_interval,
        )
        if state.settings.autoscale:
            scaler.start()
        pruner = None
        if state.queue is not None:
            pruner = Pruner(state.queue, settings.result_retention, settings.prune_interval)
            app[PRUNER] = pruner
            pruner.start()
        yield
        if pruner is not None:
            await pruner.stop()
        await scaler.stop()

    return context


async def _metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await refresh_service_count(state)
    await refresh_service_gauges(state)
    if state.queue is not None:
        try:
            state.metrics.queue_stats = await state.queue.stats()
        except PyfaasError as exc:
            # The gateway's own metrics still answer; the queue's families are left out.
            state.metrics.queue_stats = None
            log.warning("queue metrics unavailable: %s", exc)
    response = web.Response(body=state.metrics.exposition(), content_type="text/plain")
    response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
    return response


async def refresh_service_count(state: GatewayState) -> None:
    counts: dict[str, int] = {}
    for namespace in await state.provider.namespaces():
        for status in await state.provider.list_functions(namespace):
            counts[f"{status.name}.{status.namespace}"] = status.replicas
    state.metrics.service_count = counts


async def _openapi(request: web.Request) -> web.Response:
    text = resources.files("pyfaas.gateway").joinpath("openapi.yml").read_text()
    return web.Response(text=text, content_type="application/yaml")
