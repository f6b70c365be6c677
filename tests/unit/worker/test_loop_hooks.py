"""The loop runs each hook step that a hook overrides, in the hooks' order, and no other."""

from __future__ import annotations

import asyncio
import io

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState, QueuedCall
from pyfaas.worker.invoke import InvokeResult
from pyfaas.worker.logs import EventLog
from pyfaas.worker.loop import CallContext, Hook, Settle, WorkerLoop
from tests.unit.worker.conftest import make_call, settled

Events = list[tuple[str, str]]


class Starting(Hook):
    def __init__(self, name: str, events: Events) -> None:
        self.name, self.events = name, events

    async def before_invoke(self, ctx: CallContext) -> None:
        self.events.append((self.name, "before_invoke"))

    async def after_settle(self, ctx: CallContext) -> None:
        self.events.append((self.name, f"after_settle {ctx.settle}"))


class Deciding(Starting):
    """Inherits two steps, overrides the third."""

    async def after_invoke(self, ctx: CallContext) -> None:
        self.events.append((self.name, f"after_invoke {ctx.result and ctx.result.status}"))
        ctx.settle = Settle.BURY


async def test_each_step_runs_the_hooks_that_override_it_in_order() -> None:
    events: Events = []
    invoked: list[QueuedCall] = []

    async def invoke(call: QueuedCall) -> InvokeResult:
        invoked.append(call)
        return InvokeResult(200)

    queue = MemoryQueue()
    await queue.start()
    call = make_call()
    await queue.put(call)
    hooks = [Starting("a", events), Hook(), Deciding("b", events)]
    loop = WorkerLoop(queue, invoke, hooks, EventLog(io.StringIO()), max_inflight=1, ack_wait=10.0)
    runner = asyncio.create_task(loop.run())
    record = await settled(queue, call.call_id)
    loop.stop()
    await runner
    await loop.drain(1.0)
    await queue.close()
    assert invoked == [call]
    assert record.state is CallState.DEAD  # b's decision reached the queue
    assert events == [
        ("a", "before_invoke"),
        ("b", "before_invoke"),
        ("b", "after_invoke 200"),
        ("a", "after_settle bury"),
        ("b", "after_settle bury"),
    ]
