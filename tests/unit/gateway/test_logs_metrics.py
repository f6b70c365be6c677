"""/system/logs NDJSON streaming and /metrics counters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import ClientSession

from pyfaas.gateway import logs as gateway_logs
from pyfaas.providers.base import LogQuery
from pyfaas.providers.memory import MemoryProvider
from pyfaas.types import LogMessage
from tests.unit.gateway.conftest import AUTH, MakeClient, deploy

Client = ClientSession


@pytest.fixture(autouse=True)
def quick_disconnect_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """A followed stream notices a client that left within 20 ms, not half a second."""
    monkeypatch.setattr(gateway_logs, "DISCONNECT_POLL", 0.02)


async def test_logs_end_when_not_following(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "logger")
    for text in ("2026/01/01 12:00:00 Forking fprocess.", "Wrote 11 Bytes"):
        await provider.append_log("logger", "openfaas-fn", text)
    resp = await client.get(
        "/system/logs?name=logger&namespace=openfaas-fn&follow=false&tail=-1", headers=AUTH
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert [m["text"] for m in lines] == ["2026/01/01 12:00:00 Forking fprocess.", "Wrote 11 Bytes"]
    assert all(m["name"] == "logger" for m in lines)
    assert lines[0]["timestamp"].endswith("Z")


async def test_logs_tail_since_and_follow(client: Client, provider: MemoryProvider) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    await provider.append_log("logger", "openfaas-fn", "old", timestamp=old)
    for i in range(3):
        await provider.append_log("logger", "openfaas-fn", f"new {i}")
    resp = await client.get("/system/logs?name=logger&follow=0&tail=2", headers=AUTH)
    assert [json.loads(x)["text"] for x in (await resp.text()).splitlines()] == ["new 1", "new 2"]
    since = (old + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    resp = await client.get(f"/system/logs?name=logger&since={since}", headers=AUTH)
    assert "old" not in await resp.text()

    resp = await client.get("/system/logs?name=logger&follow=true&tail=1", headers=AUTH)
    assert json.loads(await resp.content.readline())["text"] == "new 2"
    await provider.append_log("logger", "openfaas-fn", "live")
    line = await asyncio.wait_for(resp.content.readline(), timeout=5)
    assert json.loads(line)["text"] == "live"
    resp.close()


async def test_logs_bad_queries(client: Client) -> None:
    resp = await client.get("/system/logs?name=x&since=yesterday", headers=AUTH)
    assert resp.status == 422
    assert (await client.get("/system/logs?name=x&follow=maybe", headers=AUTH)).status == 400
    assert (await client.get("/system/logs?name=x&tail=lots", headers=AUTH)).status == 400
    assert (await client.get("/system/logs", headers=AUTH)).status == 400


async def test_metrics_counters_move(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    for _ in range(3):
        await client.post("/function/echo", data=b"x")
    await client.get("/function/echo/status?code=500")
    await client.post("/async-function/echo", data=b"x")
    text = await (await client.get("/metrics")).text()
    assert (
        'gateway_function_invocation_total{code="200",function_name="echo.openfaas-fn"} 3.0' in text
    )
    assert (
        'gateway_function_invocation_total{code="500",function_name="echo.openfaas-fn"} 1.0' in text
    )
    assert 'gateway_function_invocation_started{function_name="echo.openfaas-fn"} 4.0' in text
    assert (
        'gateway_functions_seconds_count{code="200",function_name="echo.openfaas-fn"} 3.0' in text
    )
    assert 'gateway_service_count{function_name="echo.openfaas-fn"} 1.0' in text
    assert 'gateway_async_invocation_total{code="202",function_name="echo.openfaas-fn"} 1.0' in text
    listed = await (await client.get("/system/functions", headers=AUTH)).json()
    assert listed[0]["invocationCount"] == 4


class _WatchedProvider(MemoryProvider):
    """Records when a log stream's generator is closed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stream_closed = asyncio.Event()

    async def logs(self, query: LogQuery) -> AsyncIterator[LogMessage]:  # type: ignore[override]
        try:
            async for message in super().logs(query):
                yield message
        finally:
            self.stream_closed.set()


async def test_a_followed_stream_ends_when_the_client_leaves(make_client: MakeClient) -> None:
    provider = _WatchedProvider()
    await deploy(provider, "logger")
    await provider.append_log("logger", "openfaas-fn", "first")
    client = await make_client(provider=provider)
    resp = await client.get("/system/logs?name=logger&follow=true", headers=AUTH)
    assert json.loads(await resp.content.readline())["text"] == "first"
    resp.close()  # the client hangs up while no new line comes
    await asyncio.wait_for(provider.stream_closed.wait(), timeout=5)
