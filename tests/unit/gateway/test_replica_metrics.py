"""Gathering the watchdogs' families: relabelled per replica; a replica that fails is left out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pyfaas.gateway.replica_metrics import gather
from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from pyfaas.watchdog.metrics import ReplicaMetrics
from tests.factories import deployment
from tests.helpers import refused_port


class _Replicas(MemoryProvider):
    """The twin, with replicas listening where the test says."""

    def __init__(self, endpoints: dict[str, list[Endpoint]]) -> None:
        super().__init__()
        self.at = endpoints

    def replica_endpoints(self, name: str, namespace: str) -> list[Endpoint]:
        return self.at.get(name, [])


@pytest.fixture
async def watchdog_like() -> AsyncIterator[TestServer]:
    counts = ReplicaMetrics()
    counts.started()
    counts.finished("POST", 200, 0.01)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=counts.exposition(), content_type="text/plain")

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="this is { not metrics\n")

    app = web.Application()
    app.router.add_get("/_/metrics", metrics)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    broken = web.Application()
    broken.router.add_get("/_/metrics", garbage)
    bad = TestServer(broken, host="127.0.0.1", port=0)
    await bad.start_server()
    server.bad_port = bad.port  # type: ignore[attr-defined]
    yield server
    await bad.close()
    await server.close()
    counts.close()


async def test_samples_gain_function_and_replica_labels(watchdog_like: TestServer) -> None:
    good = watchdog_like.port
    assert good is not None
    with refused_port() as refused:
        provider = _Replicas(
            {
                "echo": [
                    Endpoint(port=good, replica="echo-a"),
                    Endpoint(port=refused.getsockname()[1], replica="echo-gone"),
                    Endpoint(port=watchdog_like.bad_port, replica="echo-bad"),  # type: ignore[attr-defined]
                ]
            }
        )
        await provider.deploy(deployment("echo"), "openfaas-fn")
        families = {f.name: f for f in await gather(provider)}
    total = families["http_requests"]
    assert [(s.name, s.labels, s.value) for s in total.samples] == [
        (
            "http_requests_total",
            {
                "code": "200",
                "method": "post",
                "function_name": "echo.openfaas-fn",
                "replica": "echo-a",
            },
            1.0,
        )
    ]
    assert families["http_requests_in_flight"].type == "gauge"


async def test_a_provider_without_replica_endpoints_gives_none() -> None:
    provider = MemoryProvider()
    await provider.deploy(deployment("echo"), "openfaas-fn")
    assert await gather(provider) == []
