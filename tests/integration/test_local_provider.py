"""The local provider with real watchdog replicas on real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from pyfaas.errors import BadRequest, ConfigError
from pyfaas.naming import DEFAULT_NAMESPACE
from pyfaas.paths import SYSTEM_NAMESPACE, StatePaths
from pyfaas.providers.base import Endpoint, LogQuery
from pyfaas.providers.local import LocalProvider, LocalProviderSettings
from pyfaas.types import FunctionDeployment
from tests.factories import deployment

pytestmark = pytest.mark.integration

NS = DEFAULT_NAMESPACE
# Functions here run scripts from the test's temporary directory, which a
# sandbox would hide (tests/security covers the sandboxed path).
SETTINGS = dataclasses.replace(
    LocalProviderSettings.from_env({"PYFAAS_SANDBOX": "off"}),
    stop_timeout=2.0,
    restart_backoff=0.05,
    unroute_delay=0.2,
)


@pytest.fixture
async def provider(state: StatePaths) -> AsyncIterator[LocalProvider]:
    local = LocalProvider(state, SETTINGS)
    await local.start()
    yield local
    await local.close()


def fn(name: str, fprocess: str = "cat", **fields: object) -> FunctionDeployment:
    return deployment(name, "functions/alpine:latest", envProcess=fprocess, **fields)


async def invoke(endpoint: Endpoint, body: bytes = b"") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(endpoint.base_url + "/", content=body)


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``check`` on the event loop until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)


async def available(provider: LocalProvider, name: str, count: int) -> None:
    for _ in range(500):
        if (await provider.get_function(name, NS)).available_replicas == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name} never had {count} available replicas")


def pids(provider: LocalProvider, name: str) -> list[int]:
    supervisor = provider._supervisors[(NS, name)]
    return [r.pid for r in supervisor.replicas() if r.pid is not None]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_cat_echoes_and_logs_with_the_replica_as_instance(provider: LocalProvider) -> None:
    await provider.deploy(fn("echo"), NS)
    endpoint = await provider.resolve("echo", NS, 10.0)
    response = await invoke(endpoint, b"hello pyfaas")
    assert response.status_code == 200
    assert response.text == "hello pyfaas"

    def forked() -> bool:
        query = provider.log_store.read(NS, "echo", instance=endpoint.replica)
        return any("Forking fprocess." in m.text for m in query)

    await eventually(forked)
    messages = [m async for m in provider.logs(LogQuery(name="echo", namespace=NS))]
    assert {m.instance for m in messages} == {endpoint.replica}


async def test_sha512sum(provider: LocalProvider) -> None:
    await provider.deploy(fn("stronghash", "sha512sum"), NS)
    response = await invoke(await provider.resolve("stronghash", NS, 10.0), b"abc")
    assert response.text.split()[0] == hashlib.sha512(b"abc").hexdigest()


async def test_scale_up_round_robin_and_down_to_zero(provider: LocalProvider) -> None:
    await provider.deploy(fn("many"), NS)
    await provider.scale("many", NS, 2)
    await available(provider, "many", 2)
    seen = {(await provider.resolve("many", NS, 1.0)).replica for _ in range(4)}
    assert len(seen) == 2
    running = pids(provider, "many")
    await provider.scale("many", NS, 0)
    await available(provider, "many", 0)
    await eventually(lambda: not any(alive(pid) for pid in running))
    endpoint = await provider.resolve("many", NS, 10.0)
    assert endpoint.replica not in seen
    assert (await invoke(endpoint, b"back")).text == "back"
    assert (await provider.get_function("many", NS)).replicas == 1


async def test_scale_is_capped_by_the_max_label(provider: LocalProvider) -> None:
    await provider.deploy(fn("capped", labels={"com.openfaas.scale.max": "2"}), NS)
    await provider.scale("capped", NS, 7)
    assert (await provider.get_function("capped", NS)).replicas == 2


async def test_a_killed_replica_is_replaced(provider: LocalProvider) -> None:
    await provider.deploy(fn("phoenix"), NS)
    first = await provider.resolve("phoenix", NS, 10.0)
    (pid,) = pids(provider, "phoenix")
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: provider._supervisors[(NS, "phoenix")].pick() != first)
    second = await provider.resolve("phoenix", NS, 10.0)
    assert second.replica != first.replica
    assert (await invoke(second, b"again")).text == "again"
    exits = provider.log_store.read(NS, "phoenix", instance=first.replica)
    assert any("exited" in m.text for m in exits)


async def test_unknown_image_is_refused(provider: LocalProvider) -> None:
    request = FunctionDeployment(service="nope", image="example.com/team/nope:1")
    with pytest.raises(BadRequest, match="not built by pyfaas build") as caught:
        await provider.deploy(request, NS)
    assert caught.value.status == 400
    assert await provider.list_functions(NS) == []


async def test_a_base_image_without_a_command_is_refused(provider: LocalProvider) -> None:
    request = FunctionDeployment(service="idle", image="ghcr.io/openfaas/alpine:latest")
    with pytest.raises(BadRequest, match="envProcess"):
        await provider.deploy(request, NS)


def secret_reader(tmp_path: Path) -> str:
    script = tmp_path / "show-secret"
    script.write_text('#!/bin/sh\nexec cat "$PYFAAS_SECRETS_DIR/$1"\n')
    script.chmod(0o755)
    return f"{script} api-key"


async def test_functions_and_secrets_survive_a_restart(state: StatePaths, tmp_path: Path) -> None:
    first = LocalProvider(state, SETTINGS)
    await first.start()
    await first.create_secret("api-key", NS, b"s3cret")
    await first.deploy(fn("keeper", secret_reader(tmp_path), secrets=["api-key"]), NS)
    assert (await invoke(await first.resolve("keeper", NS, 10.0))).text == "s3cret"
    old_pids = pids(first, "keeper")
    await first.close()
    assert not any(alive(pid) for pid in old_pids)

    second = LocalProvider(state, SETTINGS)
    await second.start()
    try:
        assert await second.list_secrets(NS) == ["api-key"]
        status = await second.get_function("keeper", NS)
        assert status.secrets == ["api-key"]
        assert (await invoke(await second.resolve("keeper", NS, 10.0))).text == "s3cret"
    finally:
        await second.close()


async def test_running_replicas_see_an_updated_secret(
    provider: LocalProvider, tmp_path: Path
) -> None:
    await provider.create_secret("token", NS, b"before")
    request = fn("mounted", secret_reader(tmp_path).replace("api-key", "token"), secrets=["token"])
    await provider.deploy(request, NS)
    endpoint = await provider.resolve("mounted", NS, 10.0)
    assert (await invoke(endpoint)).text == "before"
    await provider.update_secret("token", NS, b"after")
    assert (await invoke(endpoint)).text == "after"


async def test_updated_secret_is_seen_after_update(
    provider: LocalProvider, tmp_path: Path, state: StatePaths
) -> None:
    await provider.create_secret("api-key", NS, b"one")
    request = fn("rotating", secret_reader(tmp_path), secrets=["api-key"])
    await provider.deploy(request, NS)
    assert (await invoke(await provider.resolve("rotating", NS, 10.0))).text == "one"
    await provider.update_secret("api-key", NS, b"two")
    await provider.update(request, NS)

    async def value() -> str:
        return (await invoke(await provider.resolve("rotating", NS, 10.0))).text

    for _ in range(200):
        if await value() == "two":
            break
        await asyncio.sleep(0.05)
    assert await value() == "two"
    mode = stat.S_IMODE(state.secret_file(NS, "api-key").stat().st_mode)
    assert mode == 0o600


async def test_replicas_get_a_private_environment(provider: LocalProvider) -> None:
    await provider.deploy(fn("envy", "env", envVars={"custom_env": "custom_value"}), NS)
    text = (await invoke(await provider.resolve("envy", NS, 10.0))).text
    assert "custom_env=custom_value" in text
    assert "fprocess=env" in text
    assert "PYFAAS_HOME" not in text
    assert "PYTEST_CURRENT_TEST" not in text


async def test_delete_stops_the_replicas(provider: LocalProvider) -> None:
    await provider.deploy(fn("short"), NS)
    await provider.resolve("short", NS, 10.0)
    running = pids(provider, "short")
    await provider.delete("short", NS)
    await eventually(lambda: not any(alive(pid) for pid in running))


async def test_system_component_logs_come_from_the_openfaas_namespace(
    provider: LocalProvider,
) -> None:
    provider.log_store.append(SYSTEM_NAMESPACE, "queue-worker", "queue-worker", "[#1] Invoked")
    query = LogQuery(name="queue-worker", namespace=NS)
    messages = [m async for m in provider.logs(query)]
    assert [(m.namespace, m.text) for m in messages] == [(SYSTEM_NAMESPACE, "[#1] Invoked")]


HOLDER = """
import asyncio, sys, uvloop
from pathlib import Path
from pyfaas.paths import StatePaths
from pyfaas.providers.local import LocalProvider, LocalProviderSettings
from pyfaas.types import FunctionDeployment

async def main():
    provider = LocalProvider(StatePaths(Path(sys.argv[1])).ensure(), LocalProviderSettings())
    await provider.start()
    request = FunctionDeployment(service="orphan", image="functions/alpine", envProcess="cat")
    await provider.deploy(request, "openfaas-fn")
    await provider.resolve("orphan", "openfaas-fn", 10.0)
    for replica in provider._supervisors[("openfaas-fn", "orphan")].replicas():
        print(replica.pid, flush=True)
    await asyncio.sleep(60)

uvloop.run(main())
"""


async def test_replicas_die_with_the_gateway_process(tmp_path: Path) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(tmp_path / "home"), stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    line = await asyncio.wait_for(holder.stdout.readline(), 20)
    replica_pid = int(line)
    assert alive(replica_pid)
    holder.kill()
    await holder.wait()
    try:
        await eventually(lambda: not alive(replica_pid))
    finally:
        if alive(replica_pid):
            os.kill(replica_pid, signal.SIGKILL)


async def test_start_removes_stale_scratch_directories(state: StatePaths) -> None:
    stale = state.replicas / NS / "old" / "old-1234"
    stale.mkdir(parents=True)
    local = LocalProvider(state, SETTINGS)
    await local.start()
    try:
        assert not stale.exists()
    finally:
        await local.close()


async def test_a_required_sandbox_is_not_silently_skipped(state: StatePaths) -> None:
    settings = dataclasses.replace(SETTINGS, sandbox="required", bwrap="/nonexistent/bwrap")
    local = LocalProvider(state, settings)
    with pytest.raises(ConfigError, match="PYFAAS_SANDBOX"):
        await local.start()
