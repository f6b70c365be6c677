"""The worker against a real fake gateway and the memory queue: invocation and settling."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import replace

import pytest

from pyfaas.credentials import Credentials
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState, Delivery
from pyfaas.worker.loop import SHORT_CALL, SHORT_CALLS_AHEAD, SHORT_CALLS_BATCH
from pyfaas.worker.settings import WorkerSettings
from tests.factories import gateway_call
from tests.unit.worker.conftest import running_worker, settled
from tests.unit.worker.fakes import FakeGateway, Reply


async def test_call_is_replayed_as_submitted_and_acked(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = gateway_call(
        method="PUT",
        path="/a/b",
        query="x=1&y=%20z",
        headers=[
            ("X-Call-Id", "?"),
            ("X-Start-Time", "17"),
            ("X-Custom", "kept"),
            ("Connection", "close"),
            ("Content-Length", "999"),
            ("User-Agent", "curl/8"),
        ],
    )
    await queue.put(call)
    async with running_worker(settings, queue) as worker:
        record = await settled(queue, call.call_id)
    assert record.state is CallState.SUCCEEDED
    assert record.status_code == 200
    assert record.attempts == 1
    [seen] = gateway.calls
    assert (seen.method, seen.path, seen.query) == (
        "PUT",
        "/function/echo.openfaas-fn/a/b",
        call.query,
    )
    assert seen.body == b"hello"
    assert seen.headers["X-Call-Id"] == call.call_id
    assert seen.headers["X-Start-Time"] == "17"
    assert seen.headers["X-Custom"] == "kept"
    assert seen.headers["Content-Length"] == "5"
    assert seen.headers["User-Agent"].startswith("pyfaas-queue-worker/")
    assert "Connection" not in seen.headers or seen.headers["Connection"] != "close"
    assert any("Starting queue-worker. Concurrency: 1" in line for line in worker.lines)
    # One line for a call that ran once: what it answered, and which call it was.
    [invoked] = [line for line in worker.lines if call.call_id in line]
    assert "Invoked echo.openfaas-fn [200]" in invoked
    assert f"call {call.call_id} (5 bytes, attempt 1)" in invoked
    assert not any("Received call" in line for line in worker.lines)


async def test_empty_path_becomes_root(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = gateway_call()
    await queue.put(call)
    async with running_worker(settings, queue):
        await settled(queue, call.call_id)
    assert gateway.calls[0].path == "/function/echo.openfaas-fn/"
    assert gateway.calls[0].query == ""


def _overlaps(spans: list[tuple[float, float]]) -> bool:
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


async def test_max_inflight_one_runs_calls_one_after_another(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["slow.openfaas-fn"] = [Reply(delay=0.05)]
    calls = [gateway_call("slow") for _ in range(3)]
    for call in calls:
        await queue.put(call)
    async with running_worker(settings, queue, max_inflight=1):
        for call in calls:
            await settled(queue, call.call_id)
    assert len(gateway.calls) == 3
    assert not _overlaps(gateway.starts())
    # The records say so too, though each settle commits after the next call began.
    records = [await settled(queue, call.call_id) for call in calls]
    spans = sorted((r.started_at or 0.0, r.finished_at or 0.0) for r in records)
    assert all(start > 0 for start, _ in spans)
    assert not _overlaps(spans)


async def test_max_inflight_three_overlaps(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["slow.openfaas-fn"] = [Reply(delay=0.15)]
    calls = [gateway_call("slow") for _ in range(3)]
    for call in calls:
        await queue.put(call)
    async with running_worker(settings, queue, max_inflight=3):
        for call in calls:
            await settled(queue, call.call_id)
    spans = gateway.starts()
    assert max(start for start, _ in spans) < min(end for _, end in spans)


async def test_per_function_max_inflight_annotation_caps_inside_global(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.annotations["capped.openfaas-fn"] = {"com.pyfaas.queue.max_inflight": "1"}
    gateway.script["capped.openfaas-fn"] = [Reply(delay=0.05)]
    gateway.script["free.openfaas-fn"] = [Reply(delay=0.15)]
    capped = [gateway_call("capped") for _ in range(3)]
    free = [gateway_call("free") for _ in range(2)]
    for call in capped + free:
        await queue.put(call)
    async with running_worker(settings, queue, max_inflight=5):
        for call in capped + free:
            await settled(queue, call.call_id)
    capped_spans = sorted((s.started, s.ended) for s in gateway.calls if "capped" in s.path)
    free_spans = sorted((s.started, s.ended) for s in gateway.calls if "free" in s.path)
    assert len(capped_spans) == 3
    assert not _overlaps(capped_spans)
    assert _overlaps(free_spans)


async def test_retry_code_then_success_is_retried_once(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["flaky.openfaas-fn"] = [Reply(status=503), Reply(status=200)]
    call = gateway_call("flaky")
    await queue.put(call)
    async with running_worker(settings, queue) as worker:
        record = await settled(queue, call.call_id)
    assert record.state is CallState.SUCCEEDED
    assert record.attempts == 2
    assert len(gateway.calls) == 2
    assert any(
        "Retrying flaky.openfaas-fn in" in line and "(attempt 2/3)" in line for line in worker.lines
    )


async def test_status_not_in_retry_codes_is_dead_lettered(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["broken.openfaas-fn"] = [Reply(status=500, body=b"boom")]
    call = gateway_call("broken", callback_url=f"{gateway.url}/cb/broken")
    await queue.put(call)
    async with running_worker(settings, queue) as worker:
        record = await settled(queue, call.call_id)
    assert record.state is CallState.DEAD
    assert record.status_code == 500
    assert len(gateway.calls) == 1
    assert [r.call_id for r in await queue.dead_letters()] == [call.call_id]
    [callback] = gateway.callbacks
    assert callback.headers["X-Function-Status"] == "500"
    assert callback.body == b"boom"
    assert any("Dead-lettered call" in line for line in worker.lines)


async def test_retries_run_out_then_dead_letter(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["down.openfaas-fn"] = [Reply(status=502)]
    call = gateway_call("down")
    await queue.put(call)
    async with running_worker(settings, queue, max_retry_attempts=3):
        record = await settled(queue, call.call_id)
    assert record.state is CallState.DEAD
    assert record.attempts == 3
    assert len(gateway.calls) == 3


# A Retry-After is whole seconds: this test waits one, so it runs with the slow tier.
@pytest.mark.integration
async def test_retry_after_is_honoured(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["busy.openfaas-fn"] = [
        Reply(status=429, headers={"Retry-After": "1"}),
        Reply(status=200),
    ]
    call = gateway_call("busy")
    await queue.put(call)
    async with running_worker(settings, queue):
        record = await settled(queue, call.call_id)
    assert record.state is CallState.SUCCEEDED
    first, second = gateway.calls
    # max_retry_wait is 0.05 s here: only Retry-After explains a wait of about a second.
    assert second.started - first.started >= 0.9


async def test_annotations_override_retry_policy(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.annotations["once.openfaas-fn"] = {"com.openfaas.retry.attempts": "1"}
    gateway.script["once.openfaas-fn"] = [Reply(status=503)]
    call = gateway_call("once")
    await queue.put(call)
    auth = replace(settings, credentials=_creds())
    async with running_worker(auth, queue):
        record = await settled(queue, call.call_id)
    assert record.state is CallState.DEAD
    assert len(gateway.calls) == 1
    assert gateway.lookups[0] == ("once", "Basic YWRtaW46c2VjcmV0")


async def test_annotations_are_cached_not_fetched_per_call(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    calls = [gateway_call("echo") for _ in range(20)]
    for call in calls:
        await queue.put(call)
    async with running_worker(settings, queue, max_inflight=10):
        for call in calls:
            await settled(queue, call.call_id)
    assert len(gateway.lookups) == 1


async def test_function_gone_is_dead_lettered_at_once(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.gone.add("vanished.openfaas-fn")
    gateway.script["vanished.openfaas-fn"] = [Reply(status=404, body=b"error finding function")]
    call = gateway_call("vanished")
    await queue.put(call)
    # Even with 404 among the retry codes, a function that is gone is not retried.
    async with running_worker(settings, queue, retry_codes=frozenset({404, 503})):
        record = await settled(queue, call.call_id)
    assert record.state is CallState.DEAD
    assert len(gateway.calls) == 1


@pytest.mark.integration  # waits seconds of real time
async def test_long_call_keeps_its_lease(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["long.openfaas-fn"] = [Reply(delay=1.0)]
    call = gateway_call("long")
    await queue.put(call)
    # A lease of 0.3 s would run out three times over without extension.
    async with running_worker(settings, queue, ack_wait=0.3, max_inflight=2):
        record = await settled(queue, call.call_id)
        await asyncio.sleep(0.4)  # a wrongly expired lease would show up as a second call
    assert record.state is CallState.SUCCEEDED
    assert record.attempts == 1
    assert len(gateway.calls) == 1


def _creds() -> Credentials:
    return Credentials(user="admin", password="secret")


@pytest.mark.integration  # waits seconds of real time
async def test_call_claimed_ahead_keeps_its_lease_while_it_waits(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["long.openfaas-fn"] = [Reply(delay=1.0)]
    first, waiting = gateway_call("long"), gateway_call("long")
    await queue.put(first)
    await queue.put(waiting)
    # One slot: the second call waits a whole second for it, holding a 0.3 s lease.
    async with running_worker(settings, queue, ack_wait=0.3, max_inflight=1):
        records = [await settled(queue, c.call_id) for c in (first, waiting)]
    assert [r.state for r in records] == [CallState.SUCCEEDED] * 2
    assert [r.attempts for r in records] == [1, 1]
    assert len(gateway.calls) == 2


class _ClaimSizes(MemoryQueue):
    """A memory queue that notes how many calls each claim asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[int] = []
        self.claimed: list[int] = []  # how many each claim that found calls got

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        self.limits.append(limit)
        found = await super().claim(limit, lease, wait)
        if found:
            self.claimed.append(len(found))
        return found


async def test_short_calls_are_claimed_further_ahead_than_long_ones(
    gateway: FakeGateway, settings: WorkerSettings
) -> None:
    # Long enough to keep the recent mean above SHORT_CALL, HTTP's own time aside.
    gateway.script["slow.openfaas-fn"] = [Reply(delay=SHORT_CALL * 1.2)]
    # Three long calls are enough to claim past two, were the worker to.
    for function, count in (("slow", 3), ("quick", 60)):
        queue = _ClaimSizes()
        await queue.start()
        calls = [gateway_call(function) for _ in range(count)]
        for call in calls:
            await queue.put(call)
        async with running_worker(settings, queue, max_inflight=1):
            for call in calls:
                await settled(queue, call.call_id)
        await queue.close()
        if function == "slow":  # one running, one claimed ahead: never more
            assert max(queue.limits) <= 2
        else:  # a claim's commit takes longer than such a call: claim further ahead
            assert max(queue.limits) > 2
            assert max(queue.limits) <= 1 + SHORT_CALLS_AHEAD
            # topped up in batches, not with one claim per finished call
            assert len(queue.claimed) <= count // SHORT_CALLS_BATCH + 3, queue.claimed


async def test_an_invocation_past_invoke_timeout_is_a_503_and_retried(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["slow.openfaas-fn"] = [Reply(delay=5), Reply(body=b"in time")]
    call = gateway_call("slow", callback_url=f"{gateway.url}/cb/slow")
    await queue.put(call)
    started = time.monotonic()
    async with running_worker(settings, queue, invoke_timeout=0.1) as worker:
        record = await settled(queue, call.call_id)
    assert time.monotonic() - started < 4  # the first attempt was cut off, not waited out
    assert record.state is CallState.SUCCEEDED
    assert record.attempts == 2
    assert len(gateway.calls) == 2
    [callback] = gateway.callbacks
    assert callback.body == b"in time"
    assert any("no answer within 0.1s" in line for line in worker.lines)


async def test_calls_waiting_for_their_function_cap_leave_their_slots_to_other_functions(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.annotations["capped.openfaas-fn"] = {"com.pyfaas.queue.max_inflight": "1"}
    gateway.script["capped.openfaas-fn"] = [Reply(delay=0.12)]
    capped = [gateway_call("capped") for _ in range(2)]
    free = [gateway_call("free") for _ in range(3)]
    for call in capped + free:
        await queue.put(call)
    async with running_worker(settings, queue, max_inflight=2):
        records = {c.call_id: await settled(queue, c.call_id) for c in capped + free}
    capped_spans = sorted((s.started, s.ended) for s in gateway.calls if "capped" in s.path)
    free_ends = [s.ended for s in gateway.calls if "free" in s.path]
    assert all(r.state is CallState.SUCCEEDED for r in records.values())
    assert not _overlaps(capped_spans)
    # The second slot was not held by capped calls waiting their turn: the
    # free calls ran while the first capped call did.
    assert max(free_ends) < capped_spans[0][1]
