"""Callbacks posted by the worker: body, headers, signature, retries, failures."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState
from pyfaas.worker.settings import WorkerSettings
from tests.helpers import free_port
from tests.unit.worker.conftest import make_call, running_worker, settled
from tests.unit.worker.fakes import FakeGateway, Reply

KEY = b"0123456789abcdef"


async def test_callback_gets_body_headers_and_valid_signature(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["echo.openfaas-fn"] = [
        Reply(body=b"result!", headers={"Content-Type": "text/x-result", "X-Fn": "yes"})
    ]
    call = make_call(callback_url=f"{gateway.url}/cb/ok")
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
    call = make_call(callback_url=f"{gateway.url}/cb/ok")
    await queue.put(call)
    async with running_worker(settings, queue):
        await settled(queue, call.call_id)
    assert "X-Pyfaas-Signature" not in gateway.callbacks[0].headers


async def test_callback_retried_until_it_succeeds(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.callback_script["flaky"] = [Reply(status=500), Reply(status=500), Reply(status=200)]
    call = make_call(callback_url=f"{gateway.url}/cb/flaky")
    await queue.put(call)
    async with running_worker(settings, queue):
        record = await settled(queue, call.call_id)
    assert (record.callback_status, record.callback_attempts) == (200, 3)
    assert len(gateway.callbacks) == 3
    assert len(gateway.calls) == 1  # the function ran once


async def test_callback_unreachable_is_recorded_and_call_acked(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = make_call(callback_url=f"http://127.0.0.1:{free_port()}/gone")
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
    call = make_call(callback_url=f"{gateway.url}/cb/picky")
    await queue.put(call)
    async with running_worker(settings, queue):
        record = await settled(queue, call.call_id)
    assert (record.callback_status, record.callback_attempts) == (400, 1)


async def test_callback_url_with_bad_scheme_is_refused(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = make_call(callback_url="file:///etc/passwd")
    await queue.put(call)
    async with running_worker(settings, queue) as worker:
        record = await settled(queue, call.call_id)
    assert record.callback_attempts == 0
    assert record.callback_status is None
    assert any("refused" in line for line in worker.lines)


async def test_function_headers_with_newlines_are_not_forwarded(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = make_call(
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
    call = make_call("flaky", callback_url=f"{gateway.url}/cb/ok")
    await queue.put(call)
    async with running_worker(settings, queue):
        await settled(queue, call.call_id)
    [seen] = gateway.callbacks
    assert seen.headers["X-Function-Status"] == "200"
    assert seen.body == b"ok"
