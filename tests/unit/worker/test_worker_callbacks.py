"""Callbacks posted by the worker: body, headers, signature, retries, failures."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import replace

import pytest

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState, callback_id
from pyfaas.worker.callbacks import answer_call
from pyfaas.worker.invoke import InvokeResult
from pyfaas.worker.settings import WorkerSettings
from tests.factories import gateway_call
from tests.helpers import refused_port
from tests.unit.worker.conftest import final_record, running_worker, settled
from tests.unit.worker.fakes import Failing, FakeGateway, Reply

KEY = b"0123456789abcdef"


async def test_callback_gets_body_headers_and_valid_signature(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["echo.openfaas-fn"] = [
        Reply(body=b"result!", headers={"Content-Type": "text/x-result", "X-Fn": "yes"})
    ]
    call = gateway_call(callback_url=f"{gateway.url}/cb/ok")
    await queue.put(call)
    async with running_worker(replace(settings, signing_key=KEY), queue) as worker:
        record = await settled(queue, call.call_id)
    assert record.state is CallState.SUCCEEDED
    assert (record.callback_status, record.callback_attempts) == (200, 1)
    [seen] = gateway.callbacks
    assert seen.method == "POST"
    assert seen.body == b"result!"
    headers = seen.headers
    assert headers["Content-Type"] == "text/x-result"
    assert headers["X-Fn"] == "yes"
    assert headers["X-Call-Id"] == call.call_id
    assert headers["X-Function-Name"] == "echo.openfaas-fn"
    assert headers["X-Function-Status"] == "200"
    assert headers["X-Start-Time"] == "1700000000000000000"
    assert float(headers["X-Duration-Seconds"]) >= 0
    timestamp = headers["X-Pyfaas-Timestamp"]
    assert timestamp.isdigit()
    signed = f"{timestamp}.{call.call_id}.".encode() + b"result!"
    expected = hmac.new(KEY, signed, hashlib.sha256).hexdigest()
    assert headers["X-Pyfaas-Signature"] == f"sha256={expected}"
    assert any("Callback posted to" in line and "[200]" in line for line in worker.lines)


async def test_callback_unsigned_without_key(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = gateway_call(callback_url=f"{gateway.url}/cb/ok")
    await queue.put(call)
    async with running_worker(settings, queue):
        await settled(queue, call.call_id)
    assert "X-Pyfaas-Signature" not in gateway.callbacks[0].headers


async def test_callback_retried_until_it_succeeds(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.callback_script["flaky"] = [Reply(status=500), Reply(status=500), Reply(status=200)]
    call = gateway_call(callback_url=f"{gateway.url}/cb/flaky")
    await queue.put(call)
    async with running_worker(settings, queue):
        record = await settled(queue, call.call_id)
    assert (record.callback_status, record.callback_attempts) == (200, 3)
    assert len(gateway.callbacks) == 3
    assert len(gateway.calls) == 1  # the function ran once


async def test_callback_unreachable_is_recorded_and_call_acked(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    with refused_port() as sock:
        call = gateway_call(callback_url=f"http://127.0.0.1:{sock.getsockname()[1]}/gone")
        await queue.put(call)
        async with running_worker(settings, queue, callback_attempts=3) as worker:
            record = await settled(queue, call.call_id)
    assert record.status_code == 200
    assert record.callback_status is None
    assert record.callback_attempts == 3
    assert record.state is not CallState.DEAD
    assert await queue.dead_letters() == []
    assert len(gateway.calls) == 1
    assert any("failed for good after 3 attempts" in line for line in worker.lines)


async def test_callback_client_error_is_not_retried(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.callback_script["picky"] = [Reply(status=400)]
    call = gateway_call(callback_url=f"{gateway.url}/cb/picky")
    await queue.put(call)
    async with running_worker(settings, queue):
        record = await settled(queue, call.call_id)
    assert (record.callback_status, record.callback_attempts) == (400, 1)


async def test_callback_url_with_bad_scheme_is_refused(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = gateway_call(callback_url="file:///etc/passwd")
    await queue.put(call)
    async with running_worker(settings, queue) as worker:
        record = await settled(queue, call.call_id)
    assert record.callback_attempts == 0
    assert record.callback_status is None
    assert any("refused" in line for line in worker.lines)


async def test_function_headers_with_newlines_are_not_forwarded(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = gateway_call(
        callback_url=f"{gateway.url}/cb/ok",
        headers=[("X-Call-Id", "x"), ("X-Evil", "a\r\nX-Injected: 1"), ("X-Fine", "ok")],
    )
    await queue.put(call)
    async with running_worker(settings, queue):
        await settled(queue, call.call_id)
    seen = gateway.calls[0].headers
    assert "X-Evil" not in seen
    assert "X-Injected" not in seen
    assert seen["X-Fine"] == "ok"


async def test_no_callback_while_a_retry_is_pending(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["flaky.openfaas-fn"] = [Reply(status=503), Reply(status=200, body=b"ok")]
    call = gateway_call("flaky", callback_url=f"{gateway.url}/cb/ok")
    await queue.put(call)
    async with running_worker(settings, queue):
        await settled(queue, call.call_id)
    [seen] = gateway.callbacks
    assert seen.headers["X-Function-Status"] == "200"
    assert seen.body == b"ok"


@pytest.mark.integration  # waits seconds of real time
async def test_a_callback_that_never_answers_holds_up_no_other_call(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.callback_script["hung"] = [Reply(delay=60)]
    hung = gateway_call(callback_url=f"{gateway.url}/cb/hung")
    others = [gateway_call("other") for _ in range(5)]
    for call in [hung, *others]:
        await queue.put(call)
    started = time.monotonic()
    # One function slot, and a receiver that would hold it for 5 x 20 s if callbacks took it.
    async with running_worker(
        settings, queue, max_inflight=1, callback_attempts=5, callback_timeout=20.0
    ):
        records = [await final_record(queue, call.call_id) for call in [hung, *others]]
        elapsed = time.monotonic() - started
        callback = await queue.record(callback_id(hung.call_id))
    assert elapsed < 5, elapsed
    assert [r.state for r in records] == [CallState.SUCCEEDED] * 6
    # The call was settled when the function answered; its callback is still on its way.
    assert records[0].status_code == 200
    assert callback is not None
    assert callback.state is CallState.RUNNING
    assert [seen.path for seen in gateway.callbacks] == ["/cb/hung"]


async def test_callback_slots_are_their_own_setting(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.callback_script["slow"] = [Reply(delay=0.05)]
    calls = [gateway_call(callback_url=f"{gateway.url}/cb/slow") for _ in range(4)]
    for call in calls:
        await queue.put(call)
    async with running_worker(settings, queue, max_inflight=4, callback_max_inflight=2):
        for call in calls:
            await settled(queue, call.call_id)
    spans = sorted((seen.started, seen.ended) for seen in gateway.callbacks)
    assert len(spans) == 4
    at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    assert at_once == 2


# A Retry-After is whole seconds: this test waits one, so it runs with the slow tier.
@pytest.mark.integration
async def test_a_failed_post_waits_in_the_queue_not_in_a_slot(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    # The flaky receiver asks for a 1 s wait: meanwhile the one callback slot posts the other.
    gateway.callback_script["flaky"] = [Reply(status=503, headers={"Retry-After": "1"}), Reply()]
    flaky = gateway_call(callback_url=f"{gateway.url}/cb/flaky")
    fine = gateway_call(callback_url=f"{gateway.url}/cb/fine")
    await queue.put(flaky)
    await queue.put(fine)
    async with running_worker(
        settings, queue, callback_max_inflight=1, max_retry_wait=2.0
    ) as worker:
        records = [await settled(queue, call.call_id) for call in (flaky, fine)]
    assert [(r.callback_status, r.callback_attempts) for r in records] == [(200, 2), (200, 1)]
    assert [seen.path for seen in gateway.callbacks] == ["/cb/flaky", "/cb/fine", "/cb/flaky"]
    assert any("Callback to" in line and "retrying in 1.0s" in line for line in worker.lines)


async def test_a_settle_tried_again_queues_the_callback_once(
    gateway: FakeGateway, settings: WorkerSettings
) -> None:
    queue = Failing()
    await queue.start()
    queue.failures["ack"] = [RuntimeError("ack broke")]  # the call's settle, the first time
    call = gateway_call(callback_url=f"{gateway.url}/cb/ok")
    await queue.put(call)
    async with running_worker(settings, queue):
        record = await settled(queue, call.call_id)
    await queue.close()
    assert (record.state, record.callback_status, record.callback_attempts) == (
        CallState.SUCCEEDED,
        200,
        1,
    )
    assert queue.calls["put"] == 2  # the call, then its callback, stored before the first ack
    assert queue.calls["ack"] == 3  # the call's twice, its callback's once
    assert len(gateway.calls) == 1
    assert len(gateway.callbacks) == 1


async def test_a_call_run_again_after_a_crash_posts_its_first_callback_only(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = gateway_call(callback_url=f"{gateway.url}/cb/ok")
    await queue.put(call)
    # A worker that died after queuing the callback, before settling the call,
    # left this behind; its lease ran out and the call runs again.
    first = InvokeResult(200, body=b"first run")
    assert await queue.put(answer_call(call, first, 0.1, f"{gateway.url}/cb/ok"))
    async with running_worker(settings, queue) as worker:
        record = await settled(queue, call.call_id)
    assert (record.state, record.callback_status) == (CallState.SUCCEEDED, 200)
    assert len(gateway.calls) == 1
    assert any(
        f"Callback of call {call.call_id} was queued by an earlier run" in line
        for line in worker.lines
    )
    [callback] = gateway.callbacks  # the second put of the same callback id stored nothing
    assert callback.body == b"first run"
    assert callback.headers["X-Call-Id"] == call.call_id


async def test_a_callback_that_fails_for_good_fails_its_call_record(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.callback_script["down"] = [Reply(status=502)]
    call = gateway_call(callback_url=f"{gateway.url}/cb/down")
    await queue.put(call)
    async with running_worker(settings, queue, callback_attempts=2):
        record = await settled(queue, call.call_id)
        own = await queue.record(call.call_id)
    assert own is not None
    assert own.state is CallState.SUCCEEDED  # the call itself: the function answered 200
    assert record.state is CallState.FAILED  # joined with its callback's record
    assert (record.callback_status, record.callback_attempts) == (502, 2)
    assert record.error == "callback failed: status 502"
    assert len(gateway.calls) == 1
