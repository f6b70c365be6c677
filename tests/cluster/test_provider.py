"""Two hosts' ClusterProviders over one real nats-server, each over an in-memory local provider.

What one host writes reaches the other's local provider through the buckets
alone (the reconciler), within the 2 s the platform promises.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pyfaas.cluster.provider import REVISION_ANNOTATION, ClusterProvider
from pyfaas.errors import BadRequest, ConfigError, Conflict, NotFound, ServiceUnavailable
from pyfaas.providers.memory import MemoryProvider
from tests.factories import NS, deployment
from tests.helpers import NatsServer

pytestmark = pytest.mark.nats
WITHIN = 2.0


def host(
    server: NatsServer, key: bytes, name: str, resync: float = 0.5
) -> tuple[ClusterProvider, MemoryProvider]:
    local = MemoryProvider()
    provider = ClusterProvider(
        local,
        [server.url],
        key,
        host=name,
        address=f"http://{name}:8080",
        resync=resync,
        heartbeat=0.2,
    )
    return provider, local


@pytest.fixture
async def pair(
    cluster_nats: NatsServer, key: bytes
) -> AsyncIterator[tuple[ClusterProvider, ClusterProvider, MemoryProvider, MemoryProvider]]:
    a, local_a = host(cluster_nats, key, "a")
    b, local_b = host(cluster_nats, key, "b")
    await a.start()
    await b.start()
    try:
        yield a, b, local_a, local_b
    finally:
        await a.close()
        await b.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = WITHIN) -> None:
    import asyncio

    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not seen in time"
        await asyncio.sleep(0.05)


async def test_a_deploy_on_one_host_runs_on_the_other(pair: tuple) -> None:  # type: ignore[type-arg]
    a, b, _, local_b = pair
    await a.deploy(deployment("echo"), NS)

    async def on_b() -> bool:
        return await local_b.has_function("echo", NS)

    await eventually(on_b)
    status = await b.get_function("echo", NS)
    assert status.replicas == 1
    await a.scale("echo", NS, 3)

    async def scaled() -> bool:
        return (await local_b.get_function("echo", NS)).replicas == 3

    await eventually(scaled)
    await b.delete("echo", NS)

    async def gone_from_a() -> bool:
        return not await a.has_function("echo", NS)

    await eventually(gone_from_a)
    with pytest.raises(NotFound):
        await a.delete("echo", NS)


async def test_a_secret_made_on_one_host_is_on_the_other(pair: tuple) -> None:  # type: ignore[type-arg]
    a, b, local_a, _ = pair
    await b.create_secret("token", NS, b"s3cret")

    async def on_a() -> bool:
        return "token" in await local_a.list_secrets(NS)

    await eventually(on_a)
    assert local_a.secret_value("token") == b"s3cret"
    assert await a.list_secrets(NS) == ["token"]
    await a.deploy(deployment("uses", secrets=["token"]), NS)  # A knows it exists
    await b.update_secret("token", NS, b"rotated")

    async def rotated() -> bool:
        return local_a.secret_value("token") == b"rotated"

    await eventually(rotated)
    with pytest.raises(BadRequest, match="unable to find secret"):
        await a.deploy(deployment("lacks", secrets=["missing"]), NS)
    with pytest.raises(Conflict):
        await a.create_secret("token", NS, b"again")


async def test_an_update_from_an_older_revision_is_a_conflict(pair: tuple) -> None:  # type: ignore[type-arg]
    a, b, _, local_b = pair
    await a.deploy(deployment("echo"), NS)
    seen = await a.get_function("echo", NS)
    revision = (seen.annotations or {})[REVISION_ANNOTATION]
    # B changes it first; A's change, based on what it saw, must not overwrite B's.
    await b.update(
        deployment("echo", image="from-b", annotations={REVISION_ANNOTATION: revision}), NS
    )
    with pytest.raises(Conflict):
        await a.update(
            deployment("echo", image="from-a", annotations={REVISION_ANNOTATION: revision}), NS
        )

    async def b_won() -> bool:
        return (await local_b.get_function("echo", NS)).image == "from-b"

    await eventually(b_won)
    assert (await a.get_function("echo", NS)).image == "from-b"
    # The annotation is how a client says what it saw; it is not stored.
    assert (await local_b.get_function("echo", NS)).annotations == {}


async def test_hosts_list_the_live_ones(pair: tuple) -> None:  # type: ignore[type-arg]
    a, b, _, _ = pair
    await a.deploy(deployment("echo"), NS)

    async def both() -> bool:
        return [h.name for h in await a.hosts()] == ["a", "b"]

    await eventually(both)
    record = {h.name: h for h in await a.hosts()}["b"]
    assert record.address == "http://b:8080"

    async def b_runs_echo() -> bool:  # with B's next beat
        record = {h.name: h for h in await a.hosts()}["b"]
        return "echo.openfaas-fn" in record.replicas

    await eventually(b_runs_echo)
    await b.close()

    async def only_a() -> bool:
        return [h.name for h in await a.hosts()] == ["a"]

    await eventually(only_a)


async def test_a_host_with_another_key_does_not_start(cluster_nats: NatsServer, key: bytes) -> None:
    from pyfaas.cluster.secretbox import new_key

    first, _ = host(cluster_nats, key, "a")
    await first.start()
    try:
        intruder, _ = host(cluster_nats, new_key(), "x")
        with pytest.raises(ConfigError, match="does not match"):
            await intruder.start()
    finally:
        await first.close()


async def test_a_host_coming_back_catches_up(cluster_nats: NatsServer, key: bytes) -> None:
    a, _ = host(cluster_nats, key, "a")
    b, local_b = host(cluster_nats, key, "b")
    await a.start()
    await b.start()
    try:
        await a.deploy(deployment("old"), NS)
        await a.create_secret("gone", NS, b"x")

        async def b_has_old() -> bool:
            return await local_b.has_function("old", NS)

        await eventually(b_has_old)
        await b.close()  # B is away while A changes things
        await a.delete("old", NS)
        await a.delete_secret("gone", NS)
        await a.deploy(deployment("new"), NS)
        assert await local_b.has_function("old", NS)  # B's copy is as it left it
        back = ClusterProvider(local_b, [cluster_nats.url], key, host="b", address="", resync=0.5)
        await back.start()  # its first sync runs before start returns
        try:
            assert [f.name for f in await local_b.list_functions(NS)] == ["new"]
            assert await local_b.list_secrets(NS) == []
        finally:
            await back.close()
    finally:
        await a.close()


async def test_a_stale_heartbeat_is_not_a_live_host(cluster_nats: NatsServer, key: bytes) -> None:
    from datetime import UTC, datetime, timedelta

    from pyfaas.cluster.heartbeat import HostRecord

    a, _ = host(cluster_nats, key, "a")
    await a.start()
    try:
        old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        record = HostRecord(name="ghost", address="", version="0", last_heartbeat=old, replicas={})
        assert a._hosts_kv is not None
        await a._hosts_kv.put("ghost", record.encode())
        assert [h.name for h in await a.hosts()] == ["a"]
    finally:
        await a.close()


async def test_changes_travel_by_the_watchers_alone(cluster_nats: NatsServer, key: bytes) -> None:
    # No full read during the test: each change must reach B as its watcher delivers it.
    a, _ = host(cluster_nats, key, "a", resync=600)
    b, local_b = host(cluster_nats, key, "b", resync=600)
    await a.start()
    await b.start()
    try:
        await a.create_secret("token", NS, b"v1")
        await a.deploy(deployment("echo", secrets=["token"]), NS)
        await a.scale("echo", NS, 2)

        async def scaled() -> bool:
            functions = await local_b.list_functions(NS)
            return [(f.name, f.replicas) for f in functions] == [("echo", 2)]

        await eventually(scaled)
        assert local_b.secret_value("token") == b"v1"
        await a.update_secret("token", NS, b"v2")
        await a.delete("echo", NS)
        await a.delete_secret("token", NS)

        async def emptied() -> bool:
            return not await local_b.list_functions(NS) and not await local_b.list_secrets(NS)

        await eventually(emptied)
    finally:
        await a.close()
        await b.close()


async def test_a_function_defined_but_not_running_here_is_a_503_not_a_404(
    cluster_nats: NatsServer, key: bytes
) -> None:
    # As on a host whose reconciler has not applied a definition written through
    # another host a moment ago: the call is to be tried again, not buried as gone.
    a, local_a = host(cluster_nats, key, "a", resync=60)
    await a.start()
    try:
        await a.deploy(deployment("echo"), NS)
        await local_a.delete("echo", NS)
        with pytest.raises(ServiceUnavailable, match="not running on this host yet"):
            await a.resolve("echo", NS, 0)
        with pytest.raises(NotFound):
            await a.resolve("nowhere", NS, 0)
    finally:
        await a.close()
