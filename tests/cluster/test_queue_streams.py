"""The queue's streams on a three-node cluster: made with every replica as a host joins.

A stream made with one replica and raised to three later gets a second,
stale leader for a moment when the node it was made on restarts
(nats-server 2.9, ``cluster.queue_streams``); made with three from the
start it has none. Proved here as a user would meet it: records of calls
accepted while a node was down are read through that node the moment it
is back, and every one is there.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from pyfaas.cluster import joining
from pyfaas.cluster.secretbox import new_key
from pyfaas.errors import QueueUnavailable
from pyfaas.queue.backends.nats import NatsQueue
from tests.cluster.faults import NatsNode, start_nats_cluster, wait_jetstream
from tests.factories import queued_call
from tests.helpers import nats_server_binary

pytestmark = [pytest.mark.nats, pytest.mark.integration, pytest.mark.timeout(120)]
NODES = 3
ADMIN = joining.Admin("admin", "password", "signing-key")
QUEUE_STREAMS = (
    "PYFAAS_CALLS",
    "PYFAAS_DEAD",
    "PYFAAS_TALLY",
    "PYFAAS_CANCELS",
    "KV_pyfaas_calls",
    "KV_pyfaas_runs",
    "OBJ_pyfaas_results",
)


@pytest.fixture
def joined(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[NatsNode]]:
    """Three nodes, and a host's join of them with buckets kept on all three."""
    if nats_server_binary() is None:
        pytest.skip("nats-server is not installed")
    nodes: list[NatsNode] = []
    try:
        nodes = start_nats_cluster(tmp_path / "nats", ["127.0.0.1"] * NODES)
        urls = [n.url for n in nodes]
        wait_jetstream(urls)
        key_file = tmp_path / "cluster.key"
        key_file.write_bytes(new_key())
        monkeypatch.setenv("PYFAAS_CLUSTER_KV_REPLICAS", str(NODES))
        joining.prepare(",".join(urls), key_file, ADMIN)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


async def test_a_join_makes_the_queue_streams_with_every_replica(
    joined: list[NatsNode],
) -> None:
    nc = Client()
    await nc.connect(servers=[n.url for n in joined])
    try:
        js = nc.jetstream(timeout=5)
        infos = {name: await js.stream_info(name) for name in QUEUE_STREAMS}
    finally:
        await nc.close()
    replicas = {name: info.config.num_replicas for name, info in infos.items()}
    assert replicas == dict.fromkeys(QUEUE_STREAMS, NODES)


async def _put_until(queue: NatsQueue, count: int, within: float = 30.0) -> list[str]:
    """``count`` calls the queue took (a 503 while leaders are elected is tried again)."""
    taken: list[str] = []
    deadline = time.monotonic() + within
    while len(taken) < count:
        assert time.monotonic() < deadline, f"only {len(taken)} calls taken"
        call = queued_call(uuid.uuid4().hex)
        try:
            if await queue.put(call):
                taken.append(call.call_id)
        except QueueUnavailable:  # uncertain ones too: only calls surely taken are checked
            await asyncio.sleep(0.2)
    return taken


async def test_calls_taken_while_a_node_was_down_are_read_through_it_once_back(
    joined: list[NatsNode],
) -> None:
    urls = [n.url for n in joined]
    queue = NatsQueue(",".join(urls), timeout=2.0)
    await queue.start()
    try:
        before = await _put_until(queue, 5)
        joined[0].kill()
        during = await _put_until(queue, 20)
    finally:
        await queue.close()
    joined[0].start()
    back = NatsQueue(urls[0], timeout=2.0)  # the restarted node alone
    deadline = time.monotonic() + 30
    while True:
        try:
            await back.start()
            break
        except QueueUnavailable:
            assert time.monotonic() < deadline, "the restarted node never served the queue"
            await asyncio.sleep(0.1)
    missing: dict[str, int] = {}
    read = 0
    try:
        # The moment a stale second leader would answer: the first seconds back.
        ends = time.monotonic() + 3
        while time.monotonic() < ends:
            for call_id in before + during:
                try:
                    record = await back.record(call_id)
                except QueueUnavailable:  # catching up: not an answer
                    continue
                read += 1
                if record is None:
                    missing[call_id] = missing.get(call_id, 0) + 1
    finally:
        await back.close()
    assert read > 0
    assert missing == {}, f"{len(missing)} accepted calls read as unknown through the node back"
