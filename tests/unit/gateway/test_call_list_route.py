"""``GET /system/calls``: the calls' records newest first, filtered, a page at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Outcome, Queue
from tests.unit.gateway.backends import BACKENDS, started_queue, submit
from tests.unit.gateway.conftest import AUTH, deploy

Client = ClientSession


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    async with started_queue(request, tmp_path) as started:
        yield started


async def _list(client: Client, query: str = "") -> tuple[list[dict[str, Any]], Any]:
    resp = await client.get(f"/system/calls{query}", headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json(), resp.headers


async def test_calls_are_listed_newest_first_as_their_records_read(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    ids = [await submit(client) for _ in range(3)]
    listed, headers = await _list(client)
    assert [r["callId"] for r in listed] == ids[::-1]
    assert "X-Next-Cursor" not in headers
    one = await (await client.get(f"/system/calls/{ids[0]}", headers=AUTH)).json()
    assert listed[-1] == one


async def test_pages_follow_the_cursor(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    ids = [await submit(client) for _ in range(5)]
    seen: list[str] = []
    query = "?limit=2"
    for _ in range(5):
        listed, headers = await _list(client, query)
        seen += [r["callId"] for r in listed]
        if "X-Next-Cursor" not in headers:
            break
        cursor = headers["X-Next-Cursor"]
        assert headers["Link"] == f'</system/calls?limit=2&before={cursor}>; rel="next"'
        query = f"?limit=2&before={cursor}"
    assert seen == ids[::-1]


async def test_filters_by_function_and_state(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    await deploy(provider, "other")
    done = await submit(client)
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    await queue.ack(delivery, Outcome(status_code=200))
    waiting = await submit(client)
    later = await submit(client, "other", **{"X-Delay-Seconds": "600"})

    async def listed(query: str) -> list[str]:
        return [r["callId"] for r in (await _list(client, query))[0]]

    assert await listed("?function=echo") == [waiting, done]
    assert await listed("?function=echo.openfaas-fn") == [waiting, done]
    assert await listed("?function=echo&namespace=openfaas-fn&state=queued") == [waiting]
    assert await listed("?state=succeeded") == [done]
    assert await listed("?state=delayed") == [later]
    assert await listed("?namespace=elsewhere") == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?state=sleeping", "state 'sleeping' is not one of queued, "),
        ("?limit=0", "limit must be between 1 and 500"),
        ("?limit=501", "limit must be between 1 and 500"),
        ("?limit=ten", "limit 'ten' is not an integer"),
        ("?before=nope", "invalid cursor 'nope'"),
        ("?function=Bad_Name!", "invalid filter"),
        ("?function=echo.a&namespace=b", "function names namespace 'a', namespace is 'b'"),
    ],
)
async def test_bad_filters_are_400_with_one_line(
    client: Client, queue: Queue, query: str, message: str
) -> None:
    resp = await client.get(f"/system/calls{query}", headers=AUTH)
    assert resp.status == 400
    text = await resp.text()
    assert message in text
    assert text.count("\n") == 1


async def test_the_list_needs_the_admin_credentials(client: Client, queue: Queue) -> None:
    resp = await client.get("/system/calls")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
