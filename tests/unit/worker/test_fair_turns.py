"""Calls claimed ahead start one function at a time; a call the queue took back never starts."""

from __future__ import annotations

import time
import uuid

from pyfaas.errors import NotFound
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState, Delivery, QueuedCall
from pyfaas.worker.loop import SHORT_CALL
from pyfaas.worker.ready import Ready
from pyfaas.worker.settings import WorkerSettings
from tests.unit.worker.conftest import eventually, running_worker, settled
from tests.unit.worker.fakes import FakeGateway, Reply


def _call(function: str) -> QueuedCall:
    call_id = uuid.uuid4().hex
    headers = [("X-Call-Id", call_id), ("X-Start-Time", "1700000000000000000")]
    return QueuedCall(call_id, function, "openfaas-fn", headers=headers, submitted_at=time.time())


def _delivery(function: str) -> Delivery:
    return Delivery(_call(function), attempt=1, token=uuid.uuid4().hex)


def test_ready_calls_are_taken_a_function_at_a_time_oldest_first() -> None:
    ready = Ready()
    floods = [_delivery("flood") for _ in range(5)]
    for delivery in floods:
        ready.append(delivery)
    other, third = _delivery("other"), _delivery("third")
    ready.append(other)
    ready.append(third)
    assert len(ready) == 7
    assert ready
    taken = [ready.popleft() for _ in range(7)]
    assert taken == [floods[0], other, third, *floods[1:]]
    assert not ready
    assert len(ready) == 0


def test_a_ready_call_can_be_removed_and_iterated() -> None:
    ready = Ready()
    a, b, c = _delivery("a"), _delivery("b"), _delivery("a")
    for delivery in (a, b, c):
        ready.append(delivery)
    assert set(map(id, ready)) == {id(a), id(b), id(c)}
    ready.remove(b)
    assert [ready.popleft(), ready.popleft()] == [a, c]
    try:
        ready.remove(b)
    except ValueError:
        pass
    else:
        raise AssertionError("removing a call not waiting must raise")
    ready.append(a)
    ready.clear()
    assert len(ready) == 0
    assert list(ready) == []


class _FloodFirst(MemoryQueue):
    """A memory queue whose claims list every ``other`` call after the flood's.

    ``late`` is put by the claim that follows the worker's ``after``-th
    start, so it is claimed while flood calls are already waiting claimed
    ahead; ``started_before`` says how many calls had started by then.
    """

    def __init__(self, late: QueuedCall | None = None, after: int = 0) -> None:
        super().__init__()
        self.limits: list[int] = []
        self.late, self.after = late, after
        self.started = 0
        self.started_before = -1

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        self.limits.append(limit)
        if self.late is not None and self.started >= self.after:
            await self.put(self.late)
            self.late, self.started_before = None, self.started
        found = await super().claim(limit, lease, wait)
        return sorted(found, key=lambda d: d.call.function != "flood")

    async def mark_running(self, delivery: Delivery) -> None:
        self.started += 1
        await super().mark_running(delivery)


async def test_a_newcomer_claimed_behind_a_flood_starts_next_not_after_it(
    gateway: FakeGateway, settings: WorkerSettings
) -> None:
    other = _call("other")
    queue = _FloodFirst(late=other, after=4)
    await queue.start()
    floods = [_call("flood") for _ in range(60)]
    for call in floods:
        await queue.put(call)
    try:
        # Instant calls: claims ask for up to 1 + SHORT_CALLS_AHEAD, so by the
        # time ``other`` is claimed a dozen flood calls wait claimed ahead.
        async with running_worker(settings, queue, max_inflight=1):
            await settled(queue, other.call_id)
            for call in floods:
                await settled(queue, call.call_id)
    finally:
        await queue.close()
    assert max(queue.limits) > 8  # claimed far ahead, or the test shows nothing
    order = [seen.path.split("/")[2] for seen in sorted(gateway.calls, key=lambda s: s.started)]
    assert order.index("other.openfaas-fn") <= queue.started_before + 2, order


async def test_every_claim_asks_for_at_least_two_calls(
    gateway: FakeGateway, settings: WorkerSettings
) -> None:
    # A fair claim of one would always take the flood's oldest call.
    gateway.script["flood.openfaas-fn"] = [Reply(delay=SHORT_CALL * 1.2)]
    queue = _FloodFirst()
    await queue.start()
    calls = [_call("flood") for _ in range(2)]
    for call in calls:
        await queue.put(call)
    try:
        async with running_worker(settings, queue, max_inflight=1):
            for call in calls:
                await settled(queue, call.call_id)
    finally:
        await queue.close()
    assert min(queue.limits) >= 2, queue.limits


class _TakenBack(MemoryQueue):
    """A memory queue that says some claimed calls are not the worker's any more."""

    def __init__(self, taken: set[str]) -> None:
        super().__init__()
        self.taken = taken

    async def mark_running(self, delivery: Delivery) -> None:
        if delivery.call.call_id in self.taken:
            raise NotFound(f"call {delivery.call.call_id} was cancelled")
        await super().mark_running(delivery)


async def test_a_call_the_queue_says_is_gone_before_it_started_is_not_run(
    gateway: FakeGateway, settings: WorkerSettings
) -> None:
    gone, kept = _call("echo"), _call("echo")
    queue = _TakenBack({gone.call_id})
    await queue.start()
    await queue.put(gone)
    await queue.put(kept)
    try:
        async with running_worker(settings, queue) as worker:
            await settled(queue, kept.call_id)

            async def said() -> bool:
                return any("not run" in line and gone.call_id in line for line in worker.lines)

            await eventually(said)
        record = await queue.record(gone.call_id)
    finally:
        await queue.close()
    assert [seen.headers["X-Call-Id"] for seen in gateway.calls] == [kept.call_id]
    assert record is not None
    assert record.state is CallState.RUNNING
    assert not any("internal error" in line for line in worker.lines)


async def test_a_call_that_waited_past_its_expire_at_is_buried_unrun(
    gateway: FakeGateway, settings: WorkerSettings
) -> None:
    # Claimed before its expire_at (the queue checks it then), started after it.
    gateway.script["slow.openfaas-fn"] = [Reply(delay=0.2)]
    first, late = _call("slow"), _call("other")
    late.expire_at = time.time() + 0.1
    queue = MemoryQueue()
    await queue.start()
    await queue.put(first)
    await queue.put(late)
    try:
        async with running_worker(settings, queue, max_inflight=1):
            record = await settled(queue, late.call_id)
            await settled(queue, first.call_id)
    finally:
        await queue.close()
    assert record.state is CallState.DEAD
    assert record.reason == "expired"
    assert [seen.path.split("/")[2] for seen in gateway.calls] == ["slow.openfaas-fn"]
