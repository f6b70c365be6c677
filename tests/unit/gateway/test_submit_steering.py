"""Submission headers that steer a call: delay, not-before, expiry, Idempotency-Key, reused ids."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Queue
from tests.unit.gateway.backends import BACKENDS, started_queue
from tests.unit.gateway.conftest import AUTH, deploy

Client = ClientSession


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    async with started_queue(request, tmp_path) as started:
        yield started


async def _record(client: Client, call_id: str) -> dict[str, object]:
    resp = await client.get(f"/system/calls/{call_id}", headers=AUTH)
    assert resp.status == 200
    return dict(await resp.json())


async def test_delay_makes_a_delayed_call(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    before = time.time()
    resp = await client.post("/async-function/echo", data=b"x", headers={"X-Delay-Seconds": "600"})
    assert resp.status == 202
    record = await _record(client, resp.headers["X-Call-Id"])
    assert record["state"] == "delayed"
    not_before = record["notBefore"]
    assert isinstance(not_before, float)
    assert before + 600 <= not_before <= time.time() + 600
    assert await queue.claim(limit=1, lease=30, wait=0) == []
    stats = await (await client.get("/system/queue", headers=AUTH)).json()
    assert stats["delayed"] == 1
    assert stats["queued"] == 0


async def test_not_before_in_rfc3339(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    resp = await client.post("/async-function/echo", data=b"x", headers={"X-Not-Before": at})
    assert resp.status == 202
    record = await _record(client, resp.headers["X-Call-Id"])
    assert record["state"] == "delayed"
    assert abs(float(str(record["notBefore"])) - (time.time() + 3600)) < 5


async def test_zero_delay_is_no_delay(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/async-function/echo", data=b"x", headers={"X-Delay-Seconds": "0"})
    record = await _record(client, resp.headers["X-Call-Id"])
    assert record["state"] == "queued"
    assert "notBefore" not in record


async def test_expire_after_sets_expire_at(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/async-function/echo", data=b"x", headers={"X-Expire-After": "90"})
    assert resp.status == 202
    record = await _record(client, resp.headers["X-Call-Id"])
    assert abs(float(str(record["expireAt"])) - (time.time() + 90)) < 5


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"X-Delay-Seconds": "soon"}, "X-Delay-Seconds"),
        ({"X-Delay-Seconds": "-1"}, "X-Delay-Seconds"),
        ({"X-Delay-Seconds": "nan"}, "X-Delay-Seconds"),
        ({"X-Delay-Seconds": "1e3"}, "X-Delay-Seconds"),
        ({"X-Delay-Seconds": str(31 * 24 * 3600)}, "30 days"),
        ({"X-Not-Before": "tomorrow"}, "RFC 3339"),
        ({"X-Not-Before": "2030-01-01T00:00:00"}, "zone"),
        ({"X-Not-Before": "2030-02-30T00:00:00Z"}, "X-Not-Before"),
        ({"X-Not-Before": "2999-01-01T00:00:00Z"}, "30 days"),
        ({"X-Delay-Seconds": "5", "X-Not-Before": "2030-01-01T00:00:00Z"}, "not both"),
        ({"X-Expire-After": "0"}, "more than 0"),
        ({"X-Expire-After": "-5"}, "X-Expire-After"),
        ({"X-Expire-After": "10", "X-Delay-Seconds": "60"}, "before the call may start"),
        ({"Idempotency-Key": "has space"}, "Idempotency-Key"),
        ({"Idempotency-Key": "k" * 129}, "Idempotency-Key"),
        ({"Idempotency-Key": "k", "X-Call-Id": "c-1"}, "not both"),
        ({"X-Pyfaas-Callback-Depth": "x"}, "X-Pyfaas-Callback-Depth"),
        ({"X-Pyfaas-Callback-Depth": "6"}, "exceeds the cap of 5"),
    ],
)
async def test_bad_steering_headers_are_400(
    client: Client, provider: MemoryProvider, queue: Queue, headers: dict[str, str], words: str
) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/async-function/echo", data=b"x", headers=headers)
    assert resp.status == 400
    text = await resp.text()
    assert words in text
    assert text.count("\n") == 1
    assert (await queue.stats()).queued == 0


async def test_depth_within_the_cap_is_stored(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    resp = await client.post(
        "/async-function/echo", data=b"x", headers={"X-Pyfaas-Callback-Depth": "5"}
    )
    assert resp.status == 202
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    assert delivery.call.depth == 5


async def test_idempotency_key_derives_the_call_id(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    first = await client.post("/async-function/echo", data=b"x", headers={"Idempotency-Key": "k1"})
    again = await client.post("/async-function/echo", data=b"x", headers={"Idempotency-Key": "k1"})
    assert first.status == again.status == 202
    digest = hashlib.sha256(b"openfaas-fn\0echo\0k1").hexdigest()[:40]
    assert first.headers["X-Call-Id"] == again.headers["X-Call-Id"] == "idem-" + digest
    assert (await queue.stats()).queued == 1
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    assert dict(delivery.call.headers)["X-Call-Id"] == "idem-" + digest


async def test_idempotency_key_with_another_body_is_409(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    key = {"Idempotency-Key": "order-17"}
    assert (await client.post("/async-function/echo", data=b"a", headers=key)).status == 202
    resp = await client.post("/async-function/echo", data=b"b", headers=key)
    assert resp.status == 409
    text = await resp.text()
    assert "Idempotency-Key 'order-17'" in text
    assert text.count("\n") == 1
    assert (await queue.stats()).queued == 1


async def test_same_key_for_another_function_is_another_call(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    await deploy(provider, "other")
    key = {"Idempotency-Key": "k"}
    one = await client.post("/async-function/echo", data=b"a", headers=key)
    two = await client.post("/async-function/other", data=b"a", headers=key)
    assert one.status == two.status == 202
    assert one.headers["X-Call-Id"] != two.headers["X-Call-Id"]
    assert (await queue.stats()).queued == 2


async def test_reused_call_id_with_another_body_is_409(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    ids = {"X-Call-Id": "c-17"}
    assert (await client.post("/async-function/echo", data=b"a", headers=ids)).status == 202
    same = await client.post("/async-function/echo", data=b"a", headers=ids)
    assert same.status == 202
    assert same.headers["X-Call-Id"] == "c-17"
    other = await client.post("/async-function/echo/path", data=b"a", headers=ids)
    assert other.status == 409
    assert "X-Call-Id c-17" in await other.text()
    assert (await queue.stats()).queued == 1


async def test_a_resubmission_counts_once_in_submitted(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    for _ in range(2):
        await client.post("/async-function/echo", data=b"a", headers={"X-Call-Id": "c-1"})
    text = await (await client.get("/metrics")).text()
    assert 'queue_worker_messages_submitted_total{function_name="echo.openfaas-fn"} 1.0' in text
    assert 'gateway_async_invocation_total{code="202",function_name="echo.openfaas-fn"} 2.0' in text
