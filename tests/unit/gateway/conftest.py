"""Fixtures for the gateway's fast tests: a real echo upstream, the memory twins, a client.

The client talks to a real ``GatewayServer`` on a free port: the front and
the API application behind it, as ``pyfaas serve`` runs them.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from pyfaas.credentials import Credentials
from pyfaas.gateway.listener import GatewayServer
from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from tests.factories import deployment, gateway_settings

CREDS = Credentials(user="admin", password="s3cret")
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}


async def _echo(request: web.Request) -> web.StreamResponse:
    tail = request.match_info.get("tail", "")
    if tail == "redirect":
        raise web.HTTPFound("http://example.com/")
    if tail == "stream":
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for i in range(64):
            await response.write(f"line {i:04d} ".encode() * 1024)
        await response.write_eof()
        return response
    if tail == "slow":
        await asyncio.sleep(float(request.query.get("seconds", "5")))
    if tail == "status":
        return web.Response(status=int(request.query.get("code", "500")), text="custom")
    body = await request.read()
    headers = {
        "X-Echo-Method": request.method,
        "X-Echo-Path": request.raw_path,
        "X-Echo-Headers": json.dumps(dict(request.headers)),
        "X-Echo-Length": str(len(body)),
        "X-Duration-Seconds": "0.000100",
    }
    if request.content_type != "application/octet-stream":
        headers["Content-Type"] = request.content_type
    return web.Response(body=body, headers=headers)


@pytest.fixture
async def echo() -> AsyncIterator[TestServer]:
    app = web.Application(client_max_size=1024**3)
    app.router.add_route("*", "/{tail:.*}", _echo)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
def provider(echo: TestServer) -> MemoryProvider:
    port = echo.port
    assert port is not None
    return MemoryProvider(lambda name, ns: Endpoint(port=port, replica=f"{name}-0"))


@pytest.fixture
async def queue() -> AsyncIterator[MemoryQueue]:
    queue = MemoryQueue()
    await queue.start()
    yield queue
    await queue.close()


MakeClient = Callable[..., Coroutine[Any, Any, ClientSession]]


@pytest.fixture
async def make_client(provider: MemoryProvider, queue: MemoryQueue) -> AsyncIterator[MakeClient]:
    running: list[tuple[GatewayServer, ClientSession]] = []

    async def make(**overrides: Any) -> ClientSession:
        use_queue = overrides.pop("queue", queue)
        use_provider = overrides.pop("provider", provider)
        gateway = GatewayServer(
            gateway_settings(**overrides), use_provider, use_queue, CREDS, grace=1.0
        )
        port = await gateway.start("127.0.0.1", 0)
        client = ClientSession(base_url=f"http://127.0.0.1:{port}")
        running.append((gateway, client))
        return client

    yield make
    for gateway, client in running:
        await client.close()
        await gateway.close()


@pytest.fixture
async def client(make_client: MakeClient) -> ClientSession:
    return await make_client()


async def deploy(provider: MemoryProvider, name: str, **fields: Any) -> None:
    await provider.deploy(deployment(name, **fields), "openfaas-fn")
