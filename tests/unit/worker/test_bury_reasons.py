"""The loop's own reasons for burying a call: a hook that failed before it ran, no outbox."""

from __future__ import annotations

import asyncio
import io
import time
import uuid

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import Answer, CallRecord, CallState, QueuedCall
from pyfaas.worker.context import CallContext, Hook
from pyfaas.worker.invoke import InvokeResult
from pyfaas.worker.logs import EventLog
from pyfaas.worker.loop import WorkerLoop
from tests.unit.worker.conftest import final_record


class _BreaksBefore(Hook):
    async def before_invoke(self, ctx: CallContext) -> None:
        raise RuntimeError("no policy")


async def _run(hooks: list[Hook], call: QueuedCall) -> tuple[CallRecord, list[QueuedCall]]:
    invoked: list[QueuedCall] = []

    async def invoke(call: QueuedCall) -> InvokeResult:
        invoked.append(call)
        return InvokeResult(200)

    queue = MemoryQueue()
    await queue.start()
    await queue.put(call)
    # A short claim wait: stopping the loop waits out the claim in progress.
    loop = WorkerLoop(
        queue,
        invoke,
        hooks,
        EventLog(io.StringIO()),
        max_inflight=1,
        ack_wait=10.0,
        claim_wait=0.01,
    )
    runner = asyncio.create_task(loop.run())
    try:
        record = await final_record(queue, call.call_id)
    finally:
        loop.stop()
        await runner
        await loop.drain(1.0)
        await queue.close()
    return record, invoked


def _call(**fields: object) -> QueuedCall:
    return QueuedCall(uuid.uuid4().hex, "echo", "openfaas-fn", submitted_at=time.time(), **fields)  # type: ignore[arg-type]


async def test_a_hook_failing_before_the_call_buries_it_unrun_as_hook_failed() -> None:
    record, invoked = await _run([_BreaksBefore()], _call())
    assert invoked == []
    assert record.state is CallState.DEAD
    assert record.reason == "hook failed"
    assert record.error is not None
    assert "no policy" in record.error


async def test_a_callback_delivery_without_an_outbox_is_buried_as_no_callback_outbox() -> None:
    answer = Answer("c1", 200, 0.1, "1700000000000000000")
    record, invoked = await _run([], _call(answer=answer, callback_url="http://127.0.0.1:9/"))
    assert invoked == []
    assert record.state is CallState.DEAD
    assert record.reason == "no callback outbox"
