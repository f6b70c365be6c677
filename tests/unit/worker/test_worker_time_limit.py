"""A call holds its slot for ``invoke_timeout`` at most, even if the gateway never answers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState
from pyfaas.worker.settings import WorkerSettings
from tests.factories import gateway_call
from tests.unit.worker.conftest import running_worker, settled
from tests.unit.worker.fakes import SilentGateway, serve_silent


@pytest.fixture
async def silent() -> AsyncIterator[SilentGateway]:
    async with serve_silent(SilentGateway("/function/hung.")) as fake:
        yield fake


async def test_a_gateway_that_accepts_and_never_answers_frees_the_slot_at_the_limit(
    silent: SilentGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    hung, other = gateway_call("hung"), gateway_call("other")
    await queue.put(hung)
    await queue.put(other)
    started = time.monotonic()
    async with running_worker(
        settings,
        queue,
        gateway_url=silent.url,
        max_inflight=1,
        invoke_timeout=0.1,
        max_retry_attempts=1,
    ) as worker:
        cut = await settled(queue, hung.call_id)
        done = await settled(queue, other.call_id)
    assert time.monotonic() - started < 5
    assert (cut.state, cut.status_code, cut.error) == (
        CallState.DEAD,
        503,
        "no answer within 0.1s",
    )
    assert done.state is CallState.SUCCEEDED
    assert "/function/hung.openfaas-fn/" in silent.seen  # it was sent, and left unanswered
    assert any("no answer within 0.1s" in line for line in worker.lines)
