"""Adaptive concurrency: a function answering 429 is backed off, and grown again on 2xx."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState, Delivery, Outcome, QueuedCall
from pyfaas.worker.settings import WorkerSettings
from pyfaas.worker.slots import FunctionSlots, backed_off
from tests.unit.worker.conftest import running_worker, settled
from tests.unit.worker.fakes import function_app, serve


def test_429_halves_the_limit_and_2xx_grows_it_by_one_up_to_the_cap() -> None:
    assert backed_off(8, 429, 8) == 4
    assert backed_off(1, 429, 8) == 1
    assert backed_off(3, 429, 8) == 1
    assert backed_off(4, 200, 8) == 5
    assert backed_off(8, 204, 8) == 8
    assert backed_off(4, 500, 8) == 4


def test_a_function_is_uncapped_again_once_grown_back_to_its_cap() -> None:
    slots = FunctionSlots()
    assert slots.limit("f", None) is None
    slots.answered("f", 429, 4)
    assert slots.limit("f", None) == 2
    slots.answered("f", 429, 4)
    slots.answered("f", 429, 4)
    assert slots.limit("f", None) == 1
    slots.answered("f", 500, 4)
    assert slots.limit("f", None) == 1
    slots.answered("f", 200, 4)
    slots.answered("f", 200, 4)
    assert slots.limit("f", None) == 3
    slots.answered("f", 200, 4)
    assert slots.limit("f", None) is None  # back at the cap: no limit of its own
    assert slots.limit("g", 2) == 2  # other functions keep their caps


async def test_a_grown_limit_lets_waiting_calls_start() -> None:
    slots = FunctionSlots()
    slots.answered("f", 429, 4)
    slots.answered("f", 429, 4)  # limit 1
    running: list[int] = []
    gates = [asyncio.Event() for _ in range(4)]

    async def one(i: int) -> None:
        async with slots.hold("f", None):
            running.append(i)
            await gates[i].wait()
            slots.answered("f", 200, 4)
            running.remove(i)

    tasks = [asyncio.create_task(one(i)) for i in range(4)]
    await asyncio.sleep(0.01)
    assert running == [0]
    gates[0].set()  # a success: the limit grows to 2, and two calls start at once
    await asyncio.sleep(0.01)
    assert sorted(running) == [1, 2]
    for gate in gates:
        gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert slots.limit("f", None) is None


@dataclass
class _Crowded:
    """A gateway whose function answers 429 while more than ``capacity`` calls run in it."""

    capacity: int
    # Long enough that eight calls at once overlap, short enough that 60 take no second.
    delay: float = 0.005
    running: int = 0
    most: int = 0
    answered: dict[int, int] = field(default_factory=dict)
    url: str = ""

    async def function(self, request: web.Request) -> web.Response:
        await request.read()
        self.running += 1
        try:
            self.most = max(self.most, self.running)
            status = 429 if self.running > self.capacity else 200
            self.answered[status] = self.answered.get(status, 0) + 1
            await asyncio.sleep(self.delay)
            return web.Response(status=status, body=b"busy" if status == 429 else b"ok")
        finally:
            self.running -= 1

    def app(self) -> web.Application:
        return function_app(self.function)


async def test_a_function_answering_429_is_not_hammered(
    queue: MemoryQueue, settings: WorkerSettings
) -> None:
    calls = [
        QueuedCall(uuid.uuid4().hex, "crowded", "openfaas-fn", submitted_at=time.time())
        for _ in range(60)
    ]
    for call in calls:
        await queue.put(call)
    async with serve(_Crowded(capacity=2)) as fake:
        overrides = {"gateway_url": fake.url, "max_inflight": 8, "max_retry_attempts": 100}
        async with running_worker(settings, queue, **overrides):
            records = [await settled(queue, call.call_id, within=60) for call in calls]
    assert all(record.state is CallState.SUCCEEDED for record in records)
    assert fake.answered[200] == len(calls)
    # Eight at once against room for two would be answered 429 six times per
    # round; backed off, the worker hits the limit only now and then.
    print(f"429s: {fake.answered.get(429, 0)} for {len(calls)} calls; most at once {fake.most}")
    assert fake.answered.get(429, 0) < len(calls)


class _Outstanding(MemoryQueue):
    """A memory queue that notes the most calls held by the worker at once (claimed, unsettled)."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0
        self.most = 0

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        found = await super().claim(limit, lease, wait)
        self.held += len(found)
        self.most = max(self.most, self.held)
        return found

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        await super().ack(delivery, outcome)
        self.held -= 1

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None:
        await super().retry(delivery, delay, outcome)
        self.held -= 1


async def test_calls_waiting_for_a_backed_off_function_do_not_drain_the_queue_into_the_worker(
    settings: WorkerSettings,
) -> None:
    queue = _Outstanding()
    await queue.start()
    calls = [
        QueuedCall(uuid.uuid4().hex, "crowded", "openfaas-fn", submitted_at=time.time())
        for _ in range(60)
    ]
    for call in calls:
        await queue.put(call)
    try:
        async with serve(_Crowded(capacity=1, delay=0.004)) as fake:
            overrides = {"gateway_url": fake.url, "max_inflight": 4, "max_retry_attempts": 100}
            async with running_worker(settings, queue, **overrides):
                for call in calls:
                    await settled(queue, call.call_id, within=60)
    finally:
        await queue.close()
    # Parked calls leave their slots to others, but past max_inflight of them
    # the worker claims no more: it never holds the whole queue.
    assert queue.most <= 4 * 2 + 4 + 1 + 16, queue.most
