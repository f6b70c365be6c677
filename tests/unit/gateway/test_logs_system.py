"""/system/logs for the platform's own components: gateway and queue-worker, in namespace
openfaas whether the request names it or not."""

from __future__ import annotations

import json

import pytest
from aiohttp import ClientSession

from pyfaas.providers.memory import MemoryProvider
from tests.unit.gateway.conftest import AUTH


@pytest.mark.parametrize("component", ["gateway", "queue-worker"])
@pytest.mark.parametrize("namespace", ["", "&namespace=openfaas"])
async def test_system_components_log_under_openfaas(
    client: ClientSession, provider: MemoryProvider, component: str, namespace: str
) -> None:
    await provider.append_log(component, "openfaas", f"{component} started")
    resp = await client.get(f"/system/logs?name={component}{namespace}&follow=false", headers=AUTH)
    assert resp.status == 200, await resp.text()
    [line] = [json.loads(x) for x in (await resp.text()).splitlines()]
    assert line["text"] == f"{component} started"
    assert line["namespace"] == "openfaas"


async def test_another_namespace_is_not_the_system_one(
    client: ClientSession, provider: MemoryProvider
) -> None:
    await provider.append_log("gateway", "openfaas", "the platform's")
    resp = await client.get(
        "/system/logs?name=gateway&namespace=openfaas-fn&follow=false", headers=AUTH
    )
    assert "the platform's" not in await resp.text()
