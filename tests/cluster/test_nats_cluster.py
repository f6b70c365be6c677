"""Two hosts on a three-node NATS cluster, buckets kept on all three: one node's loss loses nothing.

The nodes are the fault suite's (``faults.start_nats_cluster``), all on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.cluster.provider import ClusterProvider
from pyfaas.providers.memory import MemoryProvider
from tests.cluster.faults import NatsNode, start_nats_cluster
from tests.cluster.test_provider import eventually
from tests.factories import NS, deployment
from tests.helpers import nats_server_binary

pytestmark = [pytest.mark.nats, pytest.mark.timeout(120)]
NODES = 3


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[NatsNode]]:
    if nats_server_binary() is None:
        pytest.skip("nats-server is not installed")
    started: list[NatsNode] = []
    try:
        started = start_nats_cluster(tmp_path / "nats", ["127.0.0.1"] * NODES)
        yield started
    finally:
        for node in started:
            node.stop()


async def start_host(
    local: MemoryProvider, urls: list[str], key: bytes, name: str
) -> ClusterProvider:
    provider = ClusterProvider(
        local, urls, key, host=name, address="", resync=0.5, heartbeat=0.5, kv_replicas=NODES
    )
    # JetStream elects its meta leader a moment after the routes connect.
    deadline = time.monotonic() + 30
    while True:
        try:
            await provider.start()
            return provider
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_a_nats_node_lost_loses_no_definition(nodes: list[NatsNode], key: bytes) -> None:
    urls = [n.url for n in nodes]
    local_a, local_b = MemoryProvider(), MemoryProvider()
    a = await start_host(local_a, urls, key, "a")
    b = await start_host(local_b, list(reversed(urls)), key, "b")
    try:
        await a.deploy(deployment("before"), NS)

        async def b_has(name: str) -> bool:
            return await local_b.has_function(name, NS)

        await eventually(lambda: b_has("before"), within=10)
        nodes[0].stop()  # a's first server, b's last
        deadline = time.monotonic() + 30
        while True:  # writes resume once the bucket's stream has a leader again
            try:
                await a.deploy(deployment("after"), NS)
                break
            except Exception:
                assert time.monotonic() < deadline, "no write after a node's loss"
                await asyncio.sleep(0.5)
        # Not the 2 s of a healthy cluster: B's reads time out until the buckets'
        # streams have leaders again, and a watcher may have to be made anew.
        await eventually(lambda: b_has("after"), within=45)
        assert await b.has_function("before", NS)
    finally:
        await a.close()
        await b.close()
