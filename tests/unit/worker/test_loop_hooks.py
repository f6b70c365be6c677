"""The loop runs each hook step that a hook overrides, in the hooks' order, and no other."""

from __future__ import annotations

import asyncio
import io

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallRecord, CallState, Delivery, QueuedCall
from pyfaas.worker.invoke import InvokeResult
from pyfaas.worker.logs import EventLog
from pyfaas.worker.loop import CallContext, Hook, Settle, WorkerLoop
from tests.factories import gateway_call
from tests.unit.worker.conftest import eventually, settled

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
    call = gateway_call()
    await queue.put(call)
    hooks = [Starting("a", events), Hook(), Deciding("b", events)]
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


class Breaking(Hook):
    """Raises in the steps named in ``broken``; notes every step it runs."""

    def __init__(self, name: str, events: Events, broken: set[str]) -> None:
        self.name, self.events, self.broken = name, events, broken

    def _step(self, step: str) -> None:
        self.events.append((self.name, step))
        if step in self.broken:
            raise RuntimeError(f"{self.name} broke in {step}")

    async def before_invoke(self, ctx: CallContext) -> None:
        self._step("before_invoke")

    async def after_invoke(self, ctx: CallContext) -> None:
        self._step("after_invoke")

    async def after_settle(self, ctx: CallContext) -> None:
        self._step("after_settle")


class Looked(MemoryQueue):
    """Numbers each claim as it starts; remembers the latest that found nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.started = 0
        self.last_empty = 0

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        self.started += 1
        number = self.started
        found = await super().claim(limit, lease, wait)
        if not found:
            self.last_empty = max(self.last_empty, number)
        return found


class Retrying(Hook):
    async def after_invoke(self, ctx: CallContext) -> None:
        ctx.settle, ctx.delay = Settle.RETRY, 0.0


async def _run_calls(hooks: list[Hook], count: int = 1) -> tuple[list[CallRecord], int, str]:
    """Run ``count`` calls through a loop with ``hooks``: their records, invocations, log."""
    invoked: list[QueuedCall] = []

    async def invoke(call: QueuedCall) -> InvokeResult:
        invoked.append(call)
        return InvokeResult(200)

    queue = Looked()
    await queue.start()
    calls = [gateway_call() for _ in range(count)]
    for call in calls:
        await queue.put(call)
    out = io.StringIO()
    log = EventLog(out)
    loop = WorkerLoop(queue, invoke, hooks, log, max_inflight=1, ack_wait=10.0, claim_wait=0.01)
    runner = asyncio.create_task(loop.run())
    records = [await settled(queue, call.call_id) for call in calls]
    # A call run again would show up before a claim begun after the settles finds nothing.
    after = queue.started

    async def looked_again() -> bool:
        return queue.last_empty > after

    await eventually(looked_again)
    loop.stop()
    await runner
    await loop.drain(1.0)
    await queue.close()
    log.flush()
    return records, len(invoked), out.getvalue()


async def test_a_hook_failing_before_invoke_fails_the_call_unrun_and_others_still_run() -> None:
    events: Events = []
    hooks = [Breaking("a", events, {"before_invoke"}), Breaking("b", events, set())]
    [record], invoked, text = await _run_calls(hooks)
    assert invoked == 0
    assert record.state is CallState.DEAD  # a dead letter: replayable once the hook is fixed
    assert record.error is not None
    assert "hook Breaking.before_invoke failed: RuntimeError('a broke in before_invoke')" in (
        record.error
    )
    assert events == [
        ("a", "before_invoke"),
        ("b", "before_invoke"),  # b runs although a failed
        ("a", "after_settle"),
        ("b", "after_settle"),
    ]
    assert f"Hook Breaking.before_invoke failed (call {record.call_id})" in text


async def test_a_hook_failing_after_invoke_fails_the_call_and_never_runs_it_again() -> None:
    events: Events = []
    # Retrying asks for another run; the broken hook after it must prevent it.
    hooks = [Retrying(), Breaking("a", events, {"after_invoke"}), Breaking("b", events, set())]
    [record], invoked, text = await _run_calls(hooks)
    assert invoked == 1
    assert record.state is CallState.FAILED
    assert record.status_code == 200  # what the function answered stays on the record
    assert record.attempts == 1
    assert (
        record.error == "hook Breaking.after_invoke failed: RuntimeError('a broke in after_invoke')"
    )
    assert ("b", "after_invoke") in events
    assert f"Hook Breaking.after_invoke failed (call {record.call_id})" in text


async def test_a_hook_failing_after_settle_is_logged_and_changes_nothing() -> None:
    events: Events = []
    hooks = [Breaking("a", events, {"after_settle"}), Breaking("b", events, set())]
    records, invoked, text = await _run_calls(hooks, count=2)
    assert invoked == 2  # the loop went on to the next call
    assert [r.state for r in records] == [CallState.SUCCEEDED] * 2
    assert [e for e in events if e[1] == "after_settle"] == [
        ("a", "after_settle"),
        ("b", "after_settle"),
    ] * 2
    assert text.count("Hook Breaking.after_settle failed") == 2
