"""The Provider contract (``pyfaas.providers.base``), run against the twin and the local provider.

Every test here must pass for both: the in-memory twin the gateway's tests
use and the local provider that runs real watchdog processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from pyfaas.errors import BadRequest, Conflict, NotFound
from pyfaas.naming import DEFAULT_NAMESPACE
from pyfaas.paths import StatePaths
from pyfaas.providers.base import Endpoint, LogQuery, Provider
from pyfaas.providers.local import LocalProvider
from pyfaas.types import LIMITS_ENFORCED_ANNOTATION, FunctionDeployment, LogMessage
from tests.factories import deployment, local_settings

NS = DEFAULT_NAMESPACE
IMAGE = "functions/alpine:latest"


def _memory_provider() -> Provider:
    try:
        from pyfaas.providers.memory import MemoryProvider
    except ImportError:
        pytest.skip("pyfaas.providers.memory is not available yet")

    def endpoint(name: str, namespace: str) -> Endpoint:
        return Endpoint(port=1, replica=f"{name}-memory")

    return MemoryProvider(endpoint)


# The local provider runs real watchdog processes: the integration tier.
@pytest.fixture(params=["memory", pytest.param("local", marks=pytest.mark.integration)])
async def provider(request: pytest.FixtureRequest, state: StatePaths) -> AsyncIterator[Provider]:
    if request.param == "memory":
        chosen = _memory_provider()
    else:
        chosen = LocalProvider(state, local_settings(stop_timeout=2.0))
    await chosen.start()
    yield chosen
    await chosen.close()


def cat(name: str, **fields: object) -> FunctionDeployment:
    return deployment(name, IMAGE, **{"envProcess": "cat", **fields})


async def append_log(provider: Provider, name: str, text: str, instance: str) -> None:
    if isinstance(provider, LocalProvider):
        provider.log_store.append(NS, name, instance, text)
    else:
        await provider.append_log(name, NS, text, instance=instance)  # type: ignore[attr-defined]


async def test_metadata_is_readable_right_after_deploy(provider: Provider) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    await provider.deploy(cat("meta", labels={"canary": "true"}, annotations={"note": "a\nb"}), NS)
    status = await provider.get_function("meta", NS)
    assert (status.name, status.image, status.namespace) == ("meta", IMAGE, NS)
    assert status.env_process == "cat"
    assert status.labels == {"canary": "true", "faas_function": "meta"}
    assert status.annotations == {"note": "a\nb"}
    assert status.replicas == 1
    assert status.created_at >= before
    wire = status.to_wire()
    assert "envVars" not in wire
    assert "limits" not in wire


async def test_a_function_with_limits_is_told_how_they_are_enforced(provider: Provider) -> None:
    await provider.deploy(cat("limited", limits={"memory": "64Mi"}), NS)
    await provider.deploy(cat("free"), NS)
    limited = await provider.get_function("limited", NS)
    told = limited.annotations[LIMITS_ENFORCED_ANNOTATION]
    assert told.startswith(("memory: 64Mi requested", "no limit is enforced")), told
    free = await provider.get_function("free", NS)
    assert LIMITS_ENFORCED_ANNOTATION not in free.annotations


async def test_deploying_twice_is_a_conflict(provider: Provider) -> None:
    await provider.deploy(cat("twice"), NS)
    with pytest.raises(Conflict):
        await provider.deploy(cat("twice"), NS)


async def test_unknown_function_is_not_found_everywhere(provider: Provider) -> None:
    assert not await provider.has_function("ghost", NS)
    with pytest.raises(NotFound):
        await provider.get_function("ghost", NS)
    with pytest.raises(NotFound):
        await provider.update(cat("ghost"), NS)
    with pytest.raises(NotFound):
        await provider.delete("ghost", NS)
    with pytest.raises(NotFound):
        await provider.scale("ghost", NS, 1)
    with pytest.raises(NotFound):
        await provider.resolve("ghost", NS, 0.1)


async def test_min_scale_label_sets_desired_replicas(provider: Provider) -> None:
    await provider.deploy(cat("min2", labels={"com.openfaas.scale.min": "2"}), NS)
    assert (await provider.get_function("min2", NS)).replicas == 2


async def test_update_replaces_the_deployment_and_keeps_created_at(provider: Provider) -> None:
    await provider.deploy(cat("upd", envVars={"a": "1"}), NS)
    created = (await provider.get_function("upd", NS)).created_at
    changed = cat(
        "upd", envProcess="sha512sum", labels={"com.openfaas.scale.min": "2"}, envVars={"b": "2"}
    )
    await provider.update(changed, NS)
    status = await provider.get_function("upd", NS)
    assert status.env_process == "sha512sum"
    assert status.env_vars == {"b": "2"}
    assert status.replicas == 2
    assert status.created_at == created


async def test_delete_removes_the_function(provider: Provider) -> None:
    await provider.deploy(cat("gone"), NS)
    await provider.deploy(cat("kept"), NS)
    assert await provider.has_function("gone", NS)
    assert not await provider.has_function("gone", "other-ns")
    await provider.delete("gone", NS)
    with pytest.raises(NotFound):
        await provider.get_function("gone", NS)
    assert not await provider.has_function("gone", NS)
    assert [f.name for f in await provider.list_functions(NS)] == ["kept"]


async def test_scale_sets_desired_including_zero(provider: Provider) -> None:
    await provider.deploy(cat("scaled"), NS)
    await provider.scale("scaled", NS, 3)
    assert (await provider.get_function("scaled", NS)).replicas == 3
    await provider.scale("scaled", NS, 0)
    assert (await provider.get_function("scaled", NS)).replicas == 0


async def test_scale_above_the_max_label_is_capped_to_it(provider: Provider) -> None:
    # OpenFaaS clamps a scale request to com.openfaas.scale.max rather than
    # refusing it (CE gateway/scaling/ranges.go); below the max it is honoured.
    await provider.deploy(cat("capped", labels={"com.openfaas.scale.max": "2"}), NS)
    await provider.scale("capped", NS, 7)
    assert (await provider.get_function("capped", NS)).replicas == 2
    await provider.scale("capped", NS, 1)
    assert (await provider.get_function("capped", NS)).replicas == 1
    await provider.scale("capped", NS, 0)
    assert (await provider.get_function("capped", NS)).replicas == 0


async def test_min_label_above_the_max_label_starts_at_the_max(provider: Provider) -> None:
    labels = {"com.openfaas.scale.min": "3", "com.openfaas.scale.max": "2"}
    await provider.deploy(cat("minmax", labels=labels), NS)
    assert (await provider.get_function("minmax", NS)).replicas == 2


async def test_update_without_a_valid_min_label_keeps_the_replicas(provider: Provider) -> None:
    await provider.deploy(cat("keep"), NS)
    await provider.scale("keep", NS, 3)
    await provider.update(cat("keep", labels={"com.openfaas.scale.min": "0"}), NS)
    assert (await provider.get_function("keep", NS)).replicas == 3


async def test_resolve_scales_from_zero(provider: Provider) -> None:
    await provider.deploy(cat("cold"), NS)
    await provider.scale("cold", NS, 0)
    endpoint = await provider.resolve("cold", NS, 10.0)
    assert endpoint.replica.startswith("cold")
    assert (await provider.get_function("cold", NS)).replicas >= 1


async def test_available_replicas_reach_desired(provider: Provider) -> None:
    await provider.deploy(cat("avail"), NS)
    for _ in range(200):
        if (await provider.get_function("avail", NS)).available_replicas == 1:
            break
        await asyncio.sleep(0.05)
    assert (await provider.get_function("avail", NS)).available_replicas == 1


async def test_secrets_crud(provider: Provider) -> None:
    assert "token" not in await provider.list_secrets(NS)
    await provider.create_secret("token", NS, b"one")
    with pytest.raises(Conflict):
        await provider.create_secret("token", NS, b"again")
    assert "token" in await provider.list_secrets(NS)
    await provider.update_secret("token", NS, b"two")
    await provider.delete_secret("token", NS)
    assert "token" not in await provider.list_secrets(NS)
    with pytest.raises(NotFound):
        await provider.update_secret("token", NS, b"x")
    with pytest.raises(NotFound):
        await provider.delete_secret("token", NS)


async def test_deploy_with_a_missing_secret_is_refused(provider: Provider) -> None:
    with pytest.raises(BadRequest, match="unable to find secret"):
        await provider.deploy(cat("needs", secrets=["absent"]), NS)
    with pytest.raises(NotFound):
        await provider.get_function("needs", NS)


async def test_info_and_namespaces(provider: Provider) -> None:
    info = await provider.info()
    assert info.provider
    assert info.orchestration
    assert info.version.release
    assert info.version.sha
    assert await provider.namespaces() == [NS]


async def test_logs_tail_and_instance(provider: Provider) -> None:
    await provider.deploy(cat("talky"), NS)
    for i in range(5):
        await append_log(provider, "talky", f"line {i}", "talky-a" if i % 2 else "talky-b")
    query = LogQuery(name="talky", namespace=NS, tail=2, instance="talky-b")
    messages = [m async for m in provider.logs(query)]
    assert [m.text for m in messages] == ["line 2", "line 4"]
    assert {(m.name, m.namespace, m.instance) for m in messages} == {("talky", NS, "talky-b")}


async def test_logs_follow_yields_new_lines(provider: Provider) -> None:
    await provider.deploy(cat("follow"), NS)
    await append_log(provider, "follow", "first", "follow-x")
    query = LogQuery(name="follow", namespace=NS, follow=True, instance="follow-x")
    stream = provider.logs(query)
    seen: list[LogMessage] = [await asyncio.wait_for(anext(stream), 3)]
    await append_log(provider, "follow", "second", "follow-x")
    seen.append(await asyncio.wait_for(anext(stream), 3))
    await stream.aclose()  # type: ignore[attr-defined]
    assert [m.text for m in seen] == ["first", "second"]


async def test_usage_of_a_function_and_of_none(provider: Provider) -> None:
    with pytest.raises(NotFound):
        await provider.usage("ghost", NS)
    await provider.deploy(cat("used", labels={"com.openfaas.scale.min": "0"}), NS)
    await provider.scale("used", NS, 0)
    idle = await provider.usage("used", NS)
    assert idle is not None
    assert idle.cpu == 0.0
    assert idle.memory == 0
    await provider.scale("used", NS, 1)
    await provider.resolve("used", NS, 30.0)
    usage = await provider.usage("used", NS)
    assert usage is not None
    assert usage.cpu >= 0.0
    if isinstance(provider, LocalProvider):
        # A watchdog is a Python process: megabytes, not bytes and not gigabytes.
        assert 1_000_000 < usage.memory < 2_000_000_000
