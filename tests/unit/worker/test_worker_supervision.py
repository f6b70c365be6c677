"""No task of the worker dies silently: claims back off, leases are kept, settles end the worker."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from pyfaas.errors import QueueUnavailable
from pyfaas.queue.envelope import CallState
from pyfaas.worker.app import run_worker
from pyfaas.worker.settings import WorkerSettings
from tests.factories import gateway_call
from tests.unit.worker.conftest import running_worker, settled
from tests.unit.worker.fakes import Failing, FakeGateway, Reply


@pytest.fixture
async def failing() -> AsyncIterator[Failing]:
    q = Failing()
    await q.start()
    yield q
    await q.close()


async def test_a_claim_that_raises_is_logged_and_claiming_goes_on(
    gateway: FakeGateway, failing: Failing, settings: WorkerSettings
) -> None:
    failing.failures["claim"] = [ValueError("cannot decode a stored call")]
    calls = [gateway_call() for _ in range(3)]
    for call in calls:
        await failing.put(call)
    async with running_worker(settings, failing) as worker:
        records = [await settled(failing, call.call_id) for call in calls]
    assert [r.state for r in records] == [CallState.SUCCEEDED] * 3
    [line] = [line for line in worker.lines if "Claiming calls failed" in line]
    assert "ValueError('cannot decode a stored call')" in line
    assert "trying again in" in line


@pytest.mark.integration  # waits seconds of real time
async def test_claims_failing_for_a_while_back_off(
    gateway: FakeGateway, failing: Failing, settings: WorkerSettings
) -> None:
    failing.failures["claim"] = [QueueUnavailable("queue down")] * 4
    call = gateway_call()
    await failing.put(call)
    async with running_worker(settings, failing) as worker:
        record = await settled(failing, call.call_id)
    assert record.state is CallState.SUCCEEDED
    waits = [line.rsplit(" ", 1)[-1] for line in worker.lines if "Claiming calls failed" in line]
    assert waits == ["0.1s", "0.2s", "0.4s", "0.8s"]


@pytest.mark.integration  # waits seconds of real time
async def test_a_lease_extension_that_raises_is_logged_and_the_lease_still_kept(
    gateway: FakeGateway, failing: Failing, settings: WorkerSettings
) -> None:
    gateway.script["long.openfaas-fn"] = [Reply(delay=1.2)]
    failing.failures["extend"] = [RuntimeError("extend broke")]
    call = gateway_call("long")
    await failing.put(call)
    # A lease of 0.6 s, extended every 0.2 s: the first extension fails, the next ones hold it.
    async with running_worker(settings, failing, ack_wait=0.6) as worker:
        record = await settled(failing, call.call_id)
        await asyncio.sleep(0.7)  # a lease that ran out would show up as a second call
    assert record.state is CallState.SUCCEEDED
    assert record.attempts == 1
    assert len(gateway.calls) == 1
    assert failing.calls["extend"] >= 3  # the keeper went on after the failure
    [line] = [line for line in worker.lines if "Extending a lease failed" in line]
    assert f"(call {call.call_id})" in line
    assert "RuntimeError('extend broke')" in line


async def test_a_settle_that_raises_once_is_tried_again(
    gateway: FakeGateway, failing: Failing, settings: WorkerSettings
) -> None:
    failing.failures["ack"] = [RuntimeError("ack broke")]
    call = gateway_call()
    await failing.put(call)
    async with running_worker(settings, failing) as worker:
        record = await settled(failing, call.call_id)
    assert record.state is CallState.SUCCEEDED
    assert len(gateway.calls) == 1
    [line] = [line for line in worker.lines if "Settling failed" in line]
    assert f"(call {call.call_id})" in line


@pytest.mark.integration  # waits seconds of real time
async def test_settles_that_keep_failing_end_the_worker_with_status_1(
    gateway: FakeGateway, failing: Failing, settings: WorkerSettings
) -> None:
    failing.forever["ack"] = RuntimeError("ack broke for good")
    first, second = gateway_call(), gateway_call()
    await failing.put(first)
    out = io.StringIO()
    stop = asyncio.Event()  # never set: the worker stops on its own
    worker = asyncio.create_task(
        run_worker(replace(settings, max_inflight=1), queue=failing, stream=out, stop=stop)
    )
    code = await asyncio.wait_for(worker, 30)
    assert code == 1
    text = out.getvalue()
    assert "given up after 6 tries" in text
    assert f"Stopping the worker, it cannot go on: settling (call {first.call_id[:8]}" in text
    assert "Stopped, exiting with status 1" in text
    # It claims nothing more once it must end.
    await failing.put(second)
    await asyncio.sleep(0.2)
    assert len(gateway.calls) == 1
