"""A NATS node SIGKILLed under two hosts: the lost watcher comes back at once, and the
platform's streams are kept on every node.

The node killed is the one where host B's watcher of the functions bucket
(an ephemeral consumer) lives. The periodic full read is set far beyond the
test (60 s), so what brings host B up to date is its watcher made anew on a
live node (``cluster.watch``), or a full read when the bucket's stream
elects its next leader (``cluster.catchup``). Making a consumer needs
JetStream's meta leader: when the killed node led that too, no watcher can
be made until the next one is elected, so the time to see the change is
counted from then (or from the write, if later).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from pyfaas.cluster import names
from pyfaas.cluster.provider import ClusterProvider
from pyfaas.cluster.replication import replicate
from pyfaas.providers.memory import MemoryProvider
from tests.cluster.faults import NatsNode, start_nats_cluster, wait_jetstream
from tests.factories import NS, deployment

pytestmark = [pytest.mark.integration, pytest.mark.nats, pytest.mark.timeout(150)]
NODES = 3
# The platform promises 2 s on a healthy cluster; generous, on a busy machine.
CAUGHT_UP = 5.0


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[NatsNode]]:
    started = start_nats_cluster(tmp_path, ["127.0.0.1"] * NODES)
    try:
        wait_jetstream([n.url for n in started])
        yield started
    finally:
        for node in started:
            node.stop()


@pytest.fixture
async def admin(nodes: list[NatsNode]) -> AsyncIterator[JetStreamContext]:
    nc = Client()

    async def quiet(exc: Exception) -> None:
        """The test kills servers: their errors show in what it calls."""

    await nc.connect(servers=[n.url for n in nodes], error_cb=quiet)
    try:
        yield nc.jetstream(timeout=5)
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


async def started(local: MemoryProvider, urls: list[str], key: bytes, name: str) -> ClusterProvider:
    host = ClusterProvider(
        local, urls, key, host=name, address="", resync=60.0, heartbeat=0.5, kv_replicas=NODES
    )
    await host.start()
    return host


async def deployed(host: ClusterProvider, name: str) -> float:
    """Deploy ``name`` through ``host``, again until taken (writes wait for the stream's
    next leader); the seconds it took."""
    began = time.monotonic()
    while True:
        try:
            await host.deploy(deployment(name), NS)
            return time.monotonic() - began
        except Exception:
            assert time.monotonic() - began < 60, f"{name} never taken after the node's loss"
            await asyncio.sleep(0.2)


async def consumers_made(js: JetStreamContext, stream: str) -> float:
    """Seconds until JetStream makes a consumer on ``stream`` again (it has a meta leader)."""
    began = time.monotonic()
    config = api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=5.0)
    while True:
        try:
            info = await js.add_consumer(stream, config, timeout=1.0)
            await js.delete_consumer(stream, info.name)
            return time.monotonic() - began
        except Exception:
            assert time.monotonic() - began < 60, "JetStream never made a consumer again"
            await asyncio.sleep(0.1)


async def until(check: object, within: float) -> float:
    """Seconds until the awaitable-returning ``check`` is true; fails past ``within``."""
    began = time.monotonic()
    while not await check():  # type: ignore[operator]
        assert time.monotonic() - began < within, f"not seen within {within}s"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def test_a_watcher_lost_with_its_node_comes_back_with_the_next_leader(
    nodes: list[NatsNode], admin: JetStreamContext, key: bytes
) -> None:
    urls = [n.url for n in nodes]
    local_b = MemoryProvider()
    a = await started(MemoryProvider(), urls, key, "a")
    b = await started(local_b, list(reversed(urls)), key, "b")
    try:
        # B's watcher: the consumer delivering to B's inboxes (the client's nuid prefix).
        prefix = b._nc.new_inbox()[: len("_INBOX.") + 12]  # type: ignore[union-attr]
        stream = f"KV_{names.FUNCTIONS_BUCKET}"
        found: list[str | None] = []

        async def b_watches() -> bool:
            # Made as b starts, it may be listed a moment later, and its
            # cluster info only once its consumer has a leader.
            found[:] = [
                c.cluster.leader
                for c in await admin.consumers_info(stream)  # type: ignore[attr-defined]
                if (c.config.deliver_subject or "").startswith(prefix)
                and c.cluster
                and c.cluster.leader
            ]
            return bool(found)

        await until(b_watches, within=10.0)
        leader = next(n for n in nodes if n.name == found[0])
        leader.kill()
        written = await deployed(a, "after")
        made = await consumers_made(admin, stream)

        async def b_has(name: str) -> bool:
            return await local_b.has_function(name, NS)

        seen = await until(lambda: b_has("after"), within=CAUGHT_UP)
        # And the watcher made anew carries the next change at once, not a full read.
        await deployed(a, "next")
        seen_next = await until(lambda: b_has("next"), within=CAUGHT_UP)
        print(
            f"\nnode {leader.name} (b's watcher's) killed: a write taken {written:.1f}s after,"
            f" consumers made {made:.1f}s after that, on b {seen:.2f}s after that;"
            f" the next change {seen_next:.2f}s"
        )
    finally:
        await a.close()
        await b.close()


async def test_the_platforms_streams_are_raised_to_the_buckets_replicas(
    admin: JetStreamContext,
) -> None:
    for name in ("PYFAAS_CALLS_T", "KV_pyfaas_calls_t", "OTHER"):
        await admin.add_stream(name=name, subjects=[f"{name.lower()}.>"])
    raised = await replicate(admin, NODES)
    assert sorted(raised) == ["KV_pyfaas_calls_t", "PYFAAS_CALLS_T"]
    assert (await admin.stream_info("PYFAAS_CALLS_T")).config.num_replicas == NODES
    assert (await admin.stream_info("OTHER")).config.num_replicas in (None, 1)
    assert await replicate(admin, NODES) == []  # nothing left to raise
