"""A settle waits for the next call to be sent: with max_inflight=1 it is not between two calls."""

from __future__ import annotations

import asyncio
import io

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState, Delivery, Outcome, QueuedCall
from pyfaas.worker.invoke import InvokeResult
from pyfaas.worker.logs import EventLog
from pyfaas.worker.loop import WorkerLoop
from tests.factories import gateway_call
from tests.unit.worker.conftest import settled


class Noting(MemoryQueue):
    """The memory queue, noting each ack as it begins."""

    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        self.events.append(f"ack {delivery.call.call_id}")
        await super().ack(delivery, outcome)


async def test_the_next_call_is_sent_before_the_last_one_settles() -> None:
    events: list[str] = []

    async def invoke(call: QueuedCall) -> InvokeResult:
        events.append(f"invoke {call.call_id}")
        return InvokeResult(200)

    queue = Noting(events)
    await queue.start()
    first, second = gateway_call(call_id="first"), gateway_call(call_id="second")
    await queue.put(first)
    await queue.put(second)
    loop = WorkerLoop(
        queue, invoke, [], EventLog(io.StringIO()), max_inflight=1, ack_wait=10.0, claim_wait=0.01
    )
    runner = asyncio.create_task(loop.run())
    records = [await settled(queue, call.call_id) for call in (first, second)]
    loop.stop()
    await runner
    await loop.drain(1.0)
    await queue.close()
    assert [record.state for record in records] == [CallState.SUCCEEDED] * 2
    # Both calls were claimed at once; the first's ack comes after the second is sent.
    assert events == ["invoke first", "invoke second", "ack first", "ack second"]
