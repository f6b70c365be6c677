"""What a cluster's hosts share and what each keeps: credentials, the queue's server, scaling.

* the admin credentials and callback signing key: the first host's, sealed
  in the secrets bucket, taken by every later host (``joining.prepare``);
* the queue's server: the first of the cluster's that answers, chosen again
  at every start of a component (``joining.queue_url``, ``serve.child``), and
  the queue takes every server;
* replicas: a host's autoscaler scales that host's replicas only, while a
  user's ``POST /system/scale-function`` sets the count of every host.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest
from aiohttp import ClientSession
from nats.js import JetStreamContext

from pyfaas.cluster import joining, names
from pyfaas.cluster.provider import ClusterProvider
from pyfaas.cluster.secretbox import SecretBox
from pyfaas.cluster.store import ClusterStore
from pyfaas.gateway.listener import GatewayServer
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.backends.nats import NatsQueue
from pyfaas.serve.child import Child
from tests.cluster.test_provider import eventually
from tests.factories import NS, deployment, gateway_settings, queued_call
from tests.helpers import NatsServer, refused_port
from tests.unit.gateway.conftest import AUTH, CREDS

ADMIN_A = joining.Admin("admin", "password-of-a", "signing-key-of-a")
ADMIN_B = joining.Admin("admin", "password-of-b", "signing-key-of-b")


@pytest.mark.nats
async def test_the_first_hosts_credentials_are_every_hosts(
    js: JetStreamContext, key: bytes
) -> None:
    store = await ClusterStore.open(js, SecretBox(key))
    first, made = await store.shared(names.ADMIN_KEY, ADMIN_A.encode())
    second, made_again = await store.shared(names.ADMIN_KEY, ADMIN_B.encode())
    assert (made, made_again) == (True, False)
    assert joining.Admin.decode(second) == joining.Admin.decode(first) == ADMIN_A
    raw = await (await js.key_value(names.SECRETS_BUCKET)).get(names.ADMIN_KEY)
    assert b"password-of-a" not in (raw.value or b"")  # sealed, as secrets are
    assert await store.secrets() == []  # not a user's secret
    assert await store.secret_names(NS) == []


@pytest.mark.nats
def test_serve_takes_the_clusters_credentials(cluster_nats: NatsServer, tmp_path: Path) -> None:
    key_file = tmp_path / "cluster.key"
    key_file.write_bytes(b"k" * 32)
    _, got_a, made_a = joining.prepare(cluster_nats.url, key_file, ADMIN_A)
    _, got_b, made_b = joining.prepare(cluster_nats.url, key_file, ADMIN_B)
    assert (got_a, made_a) == (ADMIN_A, True)
    assert (got_b, made_b) == (ADMIN_A, False)


def test_the_queue_connects_to_a_server_that_answers() -> None:
    with refused_port() as down, socket.socket() as up:
        up.bind(("127.0.0.1", 0))
        up.listen()
        down_url = f"nats://127.0.0.1:{down.getsockname()[1]}"
        up_url = f"nats://127.0.0.1:{up.getsockname()[1]}"
        # Every server, so the queue can move on; the one that answers first.
        both = joining.queue_url({"PYFAAS_CLUSTER": f"{down_url},{up_url}"})
        assert both == f"{up_url},{down_url}"
        # None answers: in their order, whose connections then say why.
        assert joining.queue_url({"PYFAAS_CLUSTER": f"{down_url},{down_url}"}) == (
            f"{down_url},{down_url}"
        )


async def test_the_nats_queue_takes_every_server_of_its_url(cluster_nats: NatsServer) -> None:
    with refused_port() as down:
        url = f"nats://127.0.0.1:{down.getsockname()[1]},{cluster_nats.url}"
        queue = NatsQueue(url)
        await queue.start()
        try:
            call = queued_call()
            assert await queue.put(call)
            record = await queue.record(call.call_id)
            assert record is not None
            assert record.function == call.function
        finally:
            await queue.close()


async def test_each_start_of_a_component_chooses_its_settings_anew() -> None:
    lines: list[str] = []
    starts = iter(["first", "second"])
    argv = [sys.executable, "-c", "import os; print(os.environ['PYFAAS_QUEUE'])"]
    child = Child("c", argv, {}, lambda _c, _i, text: lines.append(text), lambda: {
        "PYFAAS_QUEUE": next(starts)
    })  # fmt: skip
    for _ in range(2):
        await child.start()
        assert await child.wait() == 0
    assert lines == ["first", "second"]


@pytest.mark.nats
async def test_the_autoscaler_scales_this_hosts_replicas_only(
    cluster_nats: NatsServer, key: bytes
) -> None:
    local_a, local_b = MemoryProvider(), MemoryProvider()
    a = ClusterProvider(local_a, [cluster_nats.url], key, host="a", address="", resync=0.5)
    b = ClusterProvider(local_b, [cluster_nats.url], key, host="b", address="", resync=0.5)
    await a.start()
    await b.start()
    queue = MemoryQueue()
    await queue.start()
    settings = gateway_settings(autoscale=True, autoscale_interval=0.1)
    gateway = GatewayServer(settings, a, queue, CREDS, grace=1.0)
    port = await gateway.start("127.0.0.1", 0)
    try:
        labels = {"com.openfaas.scale.zero": "true", "com.openfaas.scale.zero-duration": "1s"}
        await a.deploy(deployment("idle", labels=labels), NS)

        async def a_at_zero() -> bool:
            return (await local_a.get_function("idle", NS)).replicas == 0

        await eventually(a_at_zero, within=15)
        await asyncio.sleep(1.0)  # b's and the shared count stay
        assert (await local_b.get_function("idle", NS)).replicas == 1
        assert (await b.get_function("idle", NS)).replicas == 1

        # A user's scale through a's gateway is every host's.
        async with ClientSession(f"http://127.0.0.1:{port}") as client:
            scaled = await client.post(
                "/system/scale-function/idle",
                json={"serviceName": "idle", "replicas": 2},
                headers=AUTH,
            )
            assert scaled.status in (200, 202), await scaled.text()

        async def b_at_two() -> bool:
            return (await local_b.get_function("idle", NS)).replicas == 2

        await eventually(b_at_two, within=5)
    finally:
        await gateway.close()
        await queue.close()
        await a.close()
        await b.close()
