"""A call's result, its cancel, the per-function queue counts, and the routes' wrong methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Outcome, Queue, StoredResult
from tests.unit.gateway.backends import BACKENDS, started_queue, submit
from tests.unit.gateway.conftest import AUTH, deploy

Client = ClientSession


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    async with started_queue(request, tmp_path) as started:
        yield started


async def test_result_is_the_functions_answer(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    call_id = await submit(client)
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    answer = StoredResult(
        status=201,
        headers=[
            ("Content-Type", "application/json"),
            ("X-Fn", "a"),
            ("X-Fn", "b"),
            ("Connection", "close"),
            ("Content-Length", "99"),
        ],
        body=b'{"ok":true}',
    )
    await queue.ack(delivery, Outcome(status_code=201, result=answer))
    resp = await client.get(f"/system/calls/{call_id}/result", headers=AUTH)
    assert resp.status == 201
    assert await resp.read() == b'{"ok":true}'
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers.getall("X-Fn") == ["a", "b"]
    assert resp.headers["X-Call-Id"] == call_id
    assert resp.headers["Content-Length"] == "11"
    assert "X-Result-Truncated" not in resp.headers
    record = await (await client.get(f"/system/calls/{call_id}", headers=AUTH)).json()
    assert record["hasResult"] is True


async def test_a_cut_result_says_its_full_size(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    call_id = await submit(client)
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    answer = StoredResult(500, [], b"abc", truncated=True, size=3_000_000)
    await queue.bury(delivery, Outcome(status_code=500, result=answer, reason="not retryable: 500"))
    resp = await client.get(f"/system/calls/{call_id}/result", headers=AUTH)
    assert resp.status == 500
    assert await resp.read() == b"abc"
    assert resp.headers["X-Result-Truncated"] == "3000000"


async def test_result_before_there_is_one_is_409_and_unknown_404(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    call_id = await submit(client)
    resp = await client.get(f"/system/calls/{call_id}/result", headers=AUTH)
    assert resp.status == 409
    assert await resp.text() == f"call {call_id} has no result yet (state queued)\n"
    assert (await client.get("/system/calls/nope/result", headers=AUTH)).status == 404


async def test_cancel_a_delayed_call(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    call_id = await submit(client, **{"X-Delay-Seconds": "0.05"})
    resp = await client.delete(f"/system/calls/{call_id}", headers=AUTH)
    assert resp.status == 202
    body = await resp.json()
    assert body["callId"] == call_id
    assert body["state"] == "cancelled"
    # Waits past the delay: a cancelled call is not handed out when its time comes.
    assert await queue.claim(limit=1, lease=30, wait=0.1) == []
    record = await (await client.get(f"/system/calls/{call_id}", headers=AUTH)).json()
    assert record["state"] == "cancelled"


async def test_cancel_a_running_or_finished_call_is_409(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    call_id = await submit(client)
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    await queue.mark_running(delivery)
    resp = await client.delete(f"/system/calls/{call_id}", headers=AUTH)
    assert resp.status == 409
    text = await resp.text()
    assert f"call {call_id} is running" in text
    assert text.count("\n") == 1
    await queue.ack(delivery, Outcome(status_code=200))
    resp = await client.delete(f"/system/calls/{call_id}", headers=AUTH)
    assert resp.status == 409
    assert "is succeeded" in await resp.text()
    assert (await client.delete("/system/calls/nope", headers=AUTH)).status == 404


async def test_queue_counts_per_function(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    await deploy(provider, "other")
    await submit(client)
    await submit(client)
    await submit(client, "other", **{"X-Delay-Seconds": "600"})
    stats = await (await client.get("/system/queue", headers=AUTH)).json()
    assert (stats["queued"], stats["delayed"], stats["running"]) == (2, 1, 0)
    assert (stats["retrying"], stats["dead"]) == (0, 0)
    by_name = {f["function"]: f for f in stats["functions"]}
    assert by_name["echo.openfaas-fn"]["queued"] == 2
    assert by_name["echo.openfaas-fn"]["oldestAge"] >= 0
    assert by_name["other.openfaas-fn"]["delayed"] == 1
    assert set(by_name["other.openfaas-fn"]) == {
        "function",
        "queued",
        "delayed",
        "running",
        "retrying",
        "dead",
        "oldestAge",
        "processed",
        "callbackFailures",
    }
    assert by_name["other.openfaas-fn"]["processed"] == 0


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/system/calls/c-1", {"GET", "DELETE"}),
        ("POST", "/system/calls/c-1/result", {"GET"}),
        ("PUT", "/system/dead-letters", {"GET", "DELETE"}),
        ("DELETE", "/system/dead-letters/replay", {"POST", "GET"}),
        ("GET", "/system/dead-letters/c-1/replay", {"POST"}),
        ("POST", "/system/queue", {"GET"}),
    ],
)
async def test_wrong_methods_are_405_with_allow(
    client: Client, method: str, path: str, allowed: set[str]
) -> None:
    resp = await client.request(method, path, headers=AUTH)
    assert resp.status == 405
    assert {m.strip() for m in resp.headers["Allow"].split(",")} - {"HEAD"} == allowed
    assert (await resp.text()).count("\n") == 1
