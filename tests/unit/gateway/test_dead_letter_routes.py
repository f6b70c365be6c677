"""Dead letters by filter: list, show with the request, replay and purge many or all."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Outcome, Queue
from tests.unit.gateway.backends import BACKENDS, started_queue
from tests.unit.gateway.conftest import AUTH, deploy

Client = ClientSession


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    async with started_queue(request, tmp_path) as started:
        yield started


async def _bury(client: Client, queue: Queue, function: str, reason: str, **headers: str) -> str:
    resp = await client.post(f"/async-function/{function}/p?q=1", data=b"body", headers=headers)
    assert resp.status == 202, await resp.text()
    call_id = resp.headers["X-Call-Id"]
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    assert delivery.call.call_id == call_id
    await queue.bury(delivery, Outcome(status_code=500, error="boom", reason=reason))
    return call_id


@pytest.fixture
async def buried(client: Client, provider: MemoryProvider, queue: Queue) -> list[str]:
    await deploy(provider, "echo")
    await deploy(provider, "other")
    return [
        await _bury(client, queue, "echo", "retries exhausted"),
        await _bury(client, queue, "echo", "not retryable: 500"),
        await _bury(client, queue, "other", "retries exhausted"),
    ]


async def _ids(client: Client, query: str) -> list[str]:
    resp = await client.get(f"/system/dead-letters?{query}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    return [r["callId"] for r in await resp.json()]


async def test_list_by_function_reason_and_since(client: Client, buried: list[str]) -> None:
    one, two, three = buried
    assert await _ids(client, "") == [three, two, one]
    assert await _ids(client, "function=echo") == [two, one]
    assert await _ids(client, "function=echo.openfaas-fn&reason=retries+exhausted") == [one]
    assert await _ids(client, "reason=retries+exhausted&limit=1") == [three]
    assert await _ids(client, f"since={time.time() + 60:.0f}") == []
    assert await _ids(client, "since=2000-01-01T00:00:00Z") == [three, two, one]


@pytest.mark.parametrize(
    "query",
    ["function=Bad_Name", "since=yesterday", "since=-5", "limit=0", "limit=x", "reason="],
)
async def test_bad_filters_are_400(client: Client, query: str) -> None:
    resp = await client.get(f"/system/dead-letters?{query}", headers=AUTH)
    assert resp.status == 400
    assert (await resp.text()).count("\n") == 1


async def test_show_one_with_its_request(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    call_id = await _bury(
        client,
        queue,
        "echo",
        "retries exhausted",
        **{"X-Callback-Url": "http://user:pw@127.0.0.1:9/cb", "X-Custom": "v"},
    )
    resp = await client.get(f"/system/dead-letters/{call_id}", headers=AUTH)
    assert resp.status == 200
    shown = await resp.json()
    assert shown["call"]["callId"] == call_id
    assert shown["call"]["reason"] == "retries exhausted"
    assert shown["call"]["callbackUrl"] == "http://user:***@127.0.0.1:9/cb"
    request = shown["request"]
    assert (request["method"], request["path"], request["query"]) == ("POST", "/p", "q=1")
    assert base64.b64decode(request["body"]) == b"body"
    assert request["size"] == 4
    headers = dict((k, v) for k, v in request["headers"])
    assert headers["X-Custom"] == "v"
    assert headers["X-Callback-Url"] == "http://user:***@127.0.0.1:9/cb"
    assert "pw" not in await resp.text()
    assert (await client.get("/system/dead-letters/nope", headers=AUTH)).status == 404


async def test_replay_by_filter(client: Client, queue: Queue, buried: list[str]) -> None:
    resp = await client.post("/system/dead-letters/replay?function=echo", headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"replayed": 2}
    stats = await queue.stats()
    assert (stats.queued, stats.dead) == (2, 1)
    resp = await client.post("/system/dead-letters/replay?all=true", headers=AUTH)
    assert await resp.json() == {"replayed": 1}


async def test_purge_by_filter_and_all(client: Client, queue: Queue, buried: list[str]) -> None:
    resp = await client.delete("/system/dead-letters?reason=not+retryable:+500", headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"purged": 1}
    assert (await client.get(f"/system/calls/{buried[1]}", headers=AUTH)).status == 404
    resp = await client.delete("/system/dead-letters?all=true", headers=AUTH)
    assert await resp.json() == {"purged": 2}
    assert (await queue.stats()).dead == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/system/dead-letters/replay"),
        ("DELETE", "/system/dead-letters"),
        ("DELETE", "/system/dead-letters?all=false"),
        ("DELETE", "/system/dead-letters?all=yes"),
        ("DELETE", "/system/dead-letters?all=true&function=echo"),
        ("POST", "/system/dead-letters/replay?limit=5"),
    ],
)
async def test_many_without_a_filter_is_400(
    client: Client, queue: Queue, buried: list[str], method: str, path: str
) -> None:
    resp = await client.request(method, path, headers=AUTH)
    assert resp.status == 400
    assert (await resp.text()).count("\n") == 1
    assert (await queue.stats()).dead == 3


async def test_replay_one_still_202(client: Client, queue: Queue, buried: list[str]) -> None:
    resp = await client.post(f"/system/dead-letters/{buried[0]}/replay", headers=AUTH)
    assert resp.status == 202
    assert (await queue.stats()).dead == 2
    resp = await client.post("/system/dead-letters/nope/replay", headers=AUTH)
    assert resp.status == 404
