"""Stopping the worker: running calls finish within the grace period, the rest go back."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState
from pyfaas.worker.app import run_worker
from pyfaas.worker.loop import HANDED_BACK
from pyfaas.worker.settings import WorkerSettings
from tests.factories import gateway_call
from tests.unit.worker.conftest import eventually
from tests.unit.worker.fakes import FakeGateway, Reply


async def _start(
    settings: WorkerSettings, queue: MemoryQueue
) -> tuple[asyncio.Event, asyncio.Task[int], io.StringIO]:
    stop = asyncio.Event()
    out = io.StringIO()
    task = asyncio.create_task(run_worker(settings, queue=queue, stream=out, stop=stop))
    return stop, task, out


async def _draining(out: io.StringIO) -> None:
    """Until the worker says it waits for its running calls: it has stopped claiming."""

    async def said() -> bool:
        return "Stopping: waiting up to" in out.getvalue()

    await eventually(said)


async def test_running_call_finishes_before_exit(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    answer = asyncio.Event()
    gateway.script["slow.openfaas-fn"] = [Reply(hold=answer)]
    call = gateway_call("slow")
    await queue.put(call)
    stop, task, out = await _start(settings, queue)

    async def started() -> bool:
        return bool(gateway.calls)

    await eventually(started)
    stop.set()
    await _draining(out)  # told to stop while the call runs
    answer.set()
    assert await asyncio.wait_for(task, 10) == 0
    record = await queue.record(call.call_id)
    assert record is not None
    assert record.state is CallState.SUCCEEDED
    assert "Stopped" in out.getvalue()


async def test_call_outliving_the_grace_period_is_handed_back(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.script["stuck.openfaas-fn"] = [Reply(delay=3.0)]
    call = gateway_call("stuck")
    await queue.put(call)
    stop, task, out = await _start(replace(settings, grace_period=0.05), queue)

    async def started() -> bool:
        return bool(gateway.calls)

    await eventually(started)
    stop.set()
    assert await asyncio.wait_for(task, 10) == 0
    record = await queue.record(call.call_id)
    assert record is not None
    assert record.state is CallState.RETRYING
    assert record.error == HANDED_BACK
    assert "back to the queue" in out.getvalue()
    # It is claimable again at once.
    [again] = await queue.claim(1, lease=5, wait=1)
    assert again.call.call_id == call.call_id


async def test_idle_worker_stops_promptly(queue: MemoryQueue, settings: WorkerSettings) -> None:
    stop, task, out = await _start(settings, queue)

    async def claiming() -> bool:  # the line comes just before its claim loop starts
        return "Starting queue-worker" in out.getvalue()

    await eventually(claiming)
    stop.set()
    assert await asyncio.wait_for(task, 5) == 0


async def test_calls_claimed_ahead_go_back_unrun_on_stop(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    answer = asyncio.Event()
    gateway.script["slow.openfaas-fn"] = [Reply(hold=answer)]
    running, waiting = gateway_call("slow"), gateway_call("slow")
    await queue.put(running)
    await queue.put(waiting)
    stop, task, out = await _start(replace(settings, max_inflight=1), queue)

    async def both_claimed() -> bool:
        return bool(gateway.calls) and (await queue.stats()).running == 2

    await eventually(both_claimed)  # one runs, the other waits for the slot under its lease
    stop.set()
    await _draining(out)
    answer.set()  # the slot frees while the worker stops: the call waiting must not take it
    assert await asyncio.wait_for(task, 10) == 0
    assert len(gateway.calls) == 1
    done, back = await queue.record(running.call_id), await queue.record(waiting.call_id)
    assert done is not None
    assert done.state is CallState.SUCCEEDED
    assert back is not None
    assert (back.state, back.error) == (CallState.RETRYING, HANDED_BACK)
    [again] = await queue.claim(1, lease=5, wait=1)
    assert again.call.call_id == waiting.call_id
