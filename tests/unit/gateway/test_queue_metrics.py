"""/metrics: every family parses, counters are named as prometheus_client reads them, and the
queue-worker families follow the queue."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession
from prometheus_client.parser import text_string_to_metric_families

from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Queue
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import Answer, Delivery, Outcome, QueuedCall
from tests.unit.gateway.backends import BACKENDS, started_queue
from tests.unit.gateway.conftest import MakeClient, deploy

Client = ClientSession
FN = "echo.openfaas-fn"


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    async with started_queue(request, tmp_path) as started:
        yield started


async def _families(client: Client) -> dict[str, tuple[str, dict[str, float]]]:
    """name -> (type, {sample name with function label: value})."""
    text = await (await client.get("/metrics")).text()
    out: dict[str, tuple[str, dict[str, float]]] = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in out, f"{family.name} is written twice"
        samples = {
            f"{s.name}{{{s.labels.get('function_name', '')},{s.labels.get('code', '')}}}": s.value
            for s in family.samples
        }
        out[family.name] = (family.type, samples)
    return out


async def test_every_family_parses_with_its_type(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    assert (await client.post("/function/echo", data=b"x")).status == 200
    assert (await client.post("/async-function/echo", data=b"x")).status == 202
    families = await _families(client)
    kind, samples = families["gateway_function_invocation"]
    assert kind == "counter"
    assert samples == {f"gateway_function_invocation_total{{{FN},200}}": 1.0}
    kind, samples = families["gateway_async_invocation"]
    assert (kind, samples) == ("counter", {f"gateway_async_invocation_total{{{FN},202}}": 1.0})
    # Written as OpenFaaS writes it; the parser names a counter's samples with _total.
    kind, samples = families["gateway_function_invocation_started"]
    assert (kind, samples) == (
        "counter",
        {f"gateway_function_invocation_started_total{{{FN},}}": 1.0},
    )
    assert families["gateway_service_count"][0] == "gauge"
    assert not [name for name, (kind, _) in families.items() if kind == "unknown"]


async def test_the_started_family_keeps_openfaas_sample_name(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    await client.post("/function/echo", data=b"x")
    text = await (await client.get("/metrics")).text()
    assert "# TYPE gateway_function_invocation_started counter\n" in text
    assert f'gateway_function_invocation_started{{function_name="{FN}"}} 1.0\n' in text
    assert "_total_total" not in text


async def test_queue_worker_families_follow_the_queue(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    for headers in ({}, {}, {}, {"X-Delay-Seconds": "600"}):
        assert (await client.post("/async-function/echo", headers=headers)).status == 202
    # A claim may hand out fewer than its limit (NATS): claim until two are out.
    claimed: list[Delivery] = []
    while len(claimed) < 2:
        claimed += await queue.claim(limit=2 - len(claimed), lease=30, wait=5)
    running, buried = claimed
    await queue.bury(buried, Outcome(status_code=500, reason="retries exhausted"))
    families = await _families(client)

    def value(name: str, sample: str | None = None) -> float:
        _, samples = families[name]
        return samples[f"{sample or name}{{{FN},}}"]

    assert families["queue_worker_messages_submitted"][0] == "counter"
    assert value("queue_worker_messages_submitted", "queue_worker_messages_submitted_total") == 4
    assert value("queue_worker_pending_messages") == 2  # one queued, one delayed
    assert value("queue_worker_function_invocation_inflight") == 1
    assert value("queue_worker_dead_letters") == 1
    assert value("queue_worker_retrying_messages") == 0
    assert value("queue_worker_oldest_message_age_seconds") >= 0
    for name in (
        "queue_worker_pending_messages",
        "queue_worker_function_invocation_inflight",
        "queue_worker_dead_letters",
        "queue_worker_retrying_messages",
        "queue_worker_oldest_message_age_seconds",
    ):
        assert families[name][0] == "gauge", name
    assert running.call.function == "echo"


async def test_processed_and_callback_failures_are_counters_that_outlive_a_prune(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    for _ in range(3):
        assert (await client.post("/async-function/echo", data=b"x")).status == 202
    claimed: list[Delivery] = []
    while len(claimed) < 3:
        claimed += await queue.claim(limit=3 - len(claimed), lease=30, wait=5)
    first, second, third = claimed
    await queue.ack(first, Outcome(status_code=200))
    await queue.ack(second, Outcome(status_code=500))
    await queue.bury(third, Outcome(status_code=500, reason="retries exhausted"))
    answer = Answer(first.call.call_id, 200, 0.1, "1700000000000000000")
    delivery = QueuedCall(
        first.call.call_id + ".callback",
        "echo",
        "openfaas-fn",
        callback_url="http://127.0.0.1:9/",
        submitted_at=time.time(),
        answer=answer,
    )
    await queue.put(delivery)
    [posted] = await queue.claim(limit=1, lease=30, wait=5)
    await queue.ack(posted, Outcome(error="callback failed: connection refused"))
    assert await queue.prune(time.time() + 1) == 4

    families = await _families(client)
    kind, processed = families["queue_worker_messages_processed"]
    assert kind == "counter"
    assert processed[f"queue_worker_messages_processed_total{{{FN},}}"] == 3
    assert processed["queue_worker_messages_processed_total{callbacks,}"] == 1
    kind, failures = families["queue_worker_callback_failures"]
    assert kind == "counter"
    assert failures[f"queue_worker_callback_failures_total{{{FN},}}"] == 1


@pytest.mark.parametrize("queue_kind", ["none", "closed"])
async def test_metrics_answer_without_a_queue(
    make_client: MakeClient, provider: MemoryProvider, queue_kind: str
) -> None:
    queue = None
    if queue_kind == "closed":
        queue = MemoryQueue()  # never started: every call raises QueueUnavailable
    client = await make_client(queue=queue)
    resp = await client.get("/metrics")
    assert resp.status == 200
    families = {f.name for f in text_string_to_metric_families(await resp.text())}
    assert "gateway_function_invocation" in families
    assert "queue_worker_pending_messages" not in families
