"""``GET /system/hosts`` through a real gateway: one host alone, and a cluster's live hosts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession

from pyfaas.cluster.provider import ClusterProvider
from pyfaas.gateway.listener import GatewayServer
from pyfaas.providers.base import Provider
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from tests.factories import NS, deployment, gateway_settings
from tests.helpers import NatsServer
from tests.unit.gateway.conftest import AUTH, CREDS


async def serve(provider: Provider) -> AsyncIterator[ClientSession]:
    queue = MemoryQueue()
    await queue.start()
    gateway = GatewayServer(gateway_settings(), provider, queue, CREDS, grace=1.0)
    port = await gateway.start("127.0.0.1", 0)
    session = ClientSession(base_url=f"http://127.0.0.1:{port}")
    try:
        yield session
    finally:
        await session.close()
        await gateway.close()
        await queue.close()


async def test_one_machine_lists_itself() -> None:
    provider = MemoryProvider()
    await provider.deploy(deployment("echo"), NS)
    async for client in serve(provider):
        resp = await client.get("/system/hosts", headers=AUTH)
        assert resp.status == 200
        [this] = await resp.json()
        assert set(this) == {"name", "address", "version", "lastHeartbeat", "replicas"}
        assert "echo.openfaas-fn" in this["replicas"]
        assert (await client.get("/system/hosts")).status == 401


@pytest.mark.nats
async def test_a_cluster_lists_its_live_hosts(cluster_nats: NatsServer, key: bytes) -> None:
    others = ClusterProvider(
        MemoryProvider(), [cluster_nats.url], key, host="b", address="http://b"
    )
    provider = ClusterProvider(
        MemoryProvider(), [cluster_nats.url], key, host="a", address="http://a"
    )
    await others.start()
    await provider.start()
    try:
        async for client in serve(provider):
            resp = await client.get("/system/hosts", headers=AUTH)
            assert resp.status == 200
            found = await resp.json()
            assert [(h["name"], h["address"]) for h in found] == [
                ("a", "http://a"),
                ("b", "http://b"),
            ]
    finally:
        await provider.close()
        await others.close()
