"""GET /system/function/NAME?usage=1: the replicas' CPU and memory, OpenFaaS Pro's ``usage``."""

from __future__ import annotations

from aiohttp import ClientSession

from pyfaas.providers.base import FunctionUsage
from pyfaas.providers.memory import MemoryProvider
from tests.unit.gateway.conftest import AUTH, deploy

Client = ClientSession


async def test_usage_is_given_in_millicores_and_bytes(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "busy")
    provider.set_usage("busy", usage=FunctionUsage(cpu=0.25, memory=64 * 1024 * 1024))
    resp = await client.get("/system/function/busy?usage=1", headers=AUTH)
    assert resp.status == 200
    status = await resp.json()
    assert status["usage"] == {"cpu": 250.0, "totalMemoryBytes": 67108864.0}


async def test_usage_is_left_out_unless_asked_or_measurable(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "busy")
    provider.set_usage("busy", usage=FunctionUsage(cpu=1.0, memory=1))
    status = await (await client.get("/system/function/busy", headers=AUTH)).json()
    assert "usage" not in status
    provider.set_usage("busy", usage=None)
    status = await (await client.get("/system/function/busy?usage=1", headers=AUTH)).json()
    assert "usage" not in status
    listed = await (await client.get("/system/functions", headers=AUTH)).json()
    assert "usage" not in listed[0]


async def test_idle_usage_is_an_empty_object_as_go_omits_zeros(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "idle")
    status = await (await client.get("/system/function/idle?usage=1", headers=AUTH)).json()
    assert status["usage"] == {}
