"""The function's answer stored with the call on ack and on bury; why a call is buried."""

from __future__ import annotations

import time
import uuid

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState, QueuedCall
from pyfaas.worker.invoke import InvokeResult
from pyfaas.worker.results import RESULT_MAX_BYTES, stored_result
from pyfaas.worker.settings import WorkerSettings
from tests.unit.worker.conftest import running_worker, settled
from tests.unit.worker.fakes import FakeGateway, Reply


def _call(function: str = "echo") -> QueuedCall:
    call_id = uuid.uuid4().hex
    return QueuedCall(
        call_id,
        function,
        "openfaas-fn",
        body=b"hello",
        headers=[("X-Call-Id", call_id), ("X-Start-Time", "1700000000000000000")],
        submitted_at=time.time(),
    )


def test_a_result_keeps_status_and_headers_but_not_hop_by_hop_ones() -> None:
    headers = [
        ("Content-Type", "text/plain"),
        ("X-Duration-Seconds", "0.1"),
        ("Connection", "keep-alive"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "5"),
    ]
    stored = stored_result(InvokeResult(201, headers, b"hello"), RESULT_MAX_BYTES)
    assert stored is not None
    assert stored.status == 201
    assert stored.headers == [("Content-Type", "text/plain"), ("X-Duration-Seconds", "0.1")]
    assert (stored.body, stored.truncated, stored.size) == (b"hello", False, 5)


def test_a_result_keeps_none_of_the_headers_the_servers_on_the_way_add() -> None:
    headers = [
        ("Date", "Wed, 02 Dec 2026 17:00:00 GMT"),
        ("Server", "Python/3.11 aiohttp/3.9"),
        ("X-Call-Id", "c1"),
        ("X-Start-Time", "1700000000000000000"),
        ("X-Served-By", "pyfaas/0.1.0"),
        ("X-Function-Own", "kept"),
    ]
    stored = stored_result(InvokeResult(200, headers, b""), RESULT_MAX_BYTES)
    assert stored is not None
    assert stored.headers == [("X-Function-Own", "kept")]


def test_a_body_over_the_cap_is_cut_and_says_its_whole_size() -> None:
    stored = stored_result(InvokeResult(200, [], b"x" * 100), 10)
    assert stored is not None
    assert (stored.body, stored.truncated, stored.size) == (b"x" * 10, True, 100)
    exact = stored_result(InvokeResult(200, [], b"x" * 10), 10)
    assert exact is not None
    assert not exact.truncated


def test_no_answer_from_the_function_stores_no_result() -> None:
    failed = InvokeResult(503, [], b"", error="no answer within 1s")
    assert stored_result(failed, RESULT_MAX_BYTES) is None


def test_result_max_bytes_is_read_as_a_size() -> None:
    assert WorkerSettings.from_env({}).result_max_bytes == 1024 * 1024
    assert WorkerSettings.from_env({"result_max_bytes": "2Ki"}).result_max_bytes == 2048


async def test_an_acked_call_stores_the_functions_answer(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["echo.openfaas-fn"] = [
        Reply(status=201, body=b"made it", headers={"Content-Type": "text/x-test", "X-A": "1"})
    ]
    call = _call()
    await queue.put(call)
    async with running_worker(settings, queue):
        record = await settled(queue, call.call_id)
    assert record.state is CallState.SUCCEEDED
    result = await queue.result(call.call_id)
    assert result is not None
    assert result.status == 201
    assert result.body == b"made it"
    names = {name.lower() for name, _ in result.headers}
    assert {"content-type", "x-a"} <= names
    assert not names & {"connection", "keep-alive", "transfer-encoding", "content-length"}
    assert not names & {"date", "server"}  # the fake gateway's own
    assert dict(result.headers)["Content-Type"] == "text/x-test"


async def test_a_big_answer_is_stored_cut_at_result_max_bytes(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["echo.openfaas-fn"] = [Reply(body=b"y" * 5000)]
    call = _call()
    await queue.put(call)
    async with running_worker(settings, queue, result_max_bytes=1000):
        await settled(queue, call.call_id)
    result = await queue.result(call.call_id)
    assert result is not None
    assert (result.body, result.truncated, result.size) == (b"y" * 1000, True, 5000)


async def test_a_status_not_retried_is_buried_with_its_answer_and_reason(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["echo.openfaas-fn"] = [Reply(status=500, body=b"boom")]
    call = _call()
    await queue.put(call)
    async with running_worker(settings, queue) as worker:
        record = await settled(queue, call.call_id)
    assert record.state is CallState.DEAD
    assert record.reason == "not retryable: 500"
    assert record.error == "status 500 is not retried"
    result = await queue.result(call.call_id)
    assert result is not None
    assert (result.status, result.body) == (500, b"boom")
    assert any(
        "Dead-lettered call" in line and "not retryable: 500" in line for line in worker.lines
    )


async def test_a_call_out_of_attempts_is_buried_as_retries_exhausted(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["echo.openfaas-fn"] = [Reply(status=503, body=b"busy")]
    call = _call()
    await queue.put(call)
    async with running_worker(settings, queue, max_retry_attempts=2):
        record = await settled(queue, call.call_id)
    assert record.state is CallState.DEAD
    assert record.reason == "retries exhausted"
    assert record.attempts == 2
    result = await queue.result(call.call_id)
    assert result is not None
    assert (result.status, result.body) == (503, b"busy")


async def test_a_function_that_is_gone_is_buried_as_function_removed(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.gone.add("echo.openfaas-fn")
    gateway.script["echo.openfaas-fn"] = [Reply(status=404, body=b"no such function")]
    call = _call()
    await queue.put(call)
    async with running_worker(settings, queue):
        record = await settled(queue, call.call_id)
    assert record.state is CallState.DEAD
    assert record.reason == "function removed"
