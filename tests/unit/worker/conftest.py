"""Fixtures for the queue-worker tests: a fake gateway, a memory queue, a running worker."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import CallRecord, callback_id, with_callback
from pyfaas.worker.app import run_worker
from pyfaas.worker.settings import WorkerSettings
from tests.factories import worker_settings
from tests.unit.worker.fakes import FakeGateway, serve


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    async with serve(FakeGateway()) as fake:
        yield fake


@pytest.fixture
async def queue() -> AsyncIterator[MemoryQueue]:
    q = MemoryQueue()
    await q.start()
    yield q
    await q.close()


@pytest.fixture
def settings(gateway: FakeGateway) -> WorkerSettings:
    """Fast settings: tiny retry waits and claim waits, a short grace period.

    A stopping worker waits for the claim it has in flight, which waits up to
    ``claim_wait`` for a call: 10 ms, not the factory's 50, so stopping an idle
    worker, which every test does, costs next to nothing.
    """
    return worker_settings(gateway.url, claim_wait=0.01)


@dataclass
class Running:
    stop: asyncio.Event
    task: asyncio.Task[int]
    output: io.StringIO

    @property
    def lines(self) -> list[str]:
        return self.output.getvalue().splitlines()


@asynccontextmanager
async def running_worker(
    settings: WorkerSettings, queue: MemoryQueue, **overrides: Any
) -> AsyncIterator[Running]:
    """``run_worker`` in this event loop, stopped (and checked for exit 0) on leaving."""
    output = io.StringIO()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(replace(settings, **overrides), queue=queue, stream=output, stop=stop)
    )
    running = Running(stop, task, output)
    try:
        yield running
    finally:
        stop.set()
        code = await asyncio.wait_for(task, 30)
        assert code == 0


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 10.0, interval: float = 0.01
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s")


async def settled(queue: Queue, call_id: str, within: float = 10.0) -> CallRecord:
    """The call's record once it and its callback (if one was queued) reached a final state.

    The callback delivery is put before the call is settled, so a final call
    without a callback record has none; with one, its outcome is folded in.
    """
    record = await final_record(queue, call_id, within)
    if await queue.record(callback_id(call_id)) is None:
        return record
    return with_callback(record, await final_record(queue, callback_id(call_id), within))


async def final_record(queue: Queue, call_id: str, within: float = 10.0) -> CallRecord:
    """The record of ``call_id`` (a call or a callback delivery) once it is final."""
    found: list[CallRecord] = []

    async def final() -> bool:
        record = await queue.record(call_id)
        if record is not None and record.state.value in ("succeeded", "failed", "dead"):
            found.append(record)
            return True
        return False

    await eventually(final, within)
    return found[-1]
