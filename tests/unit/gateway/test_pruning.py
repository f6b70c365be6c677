"""Retention: the gateway prunes finished calls on a timer, started and stopped with the app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from pyfaas.errors import ConfigError, QueueUnavailable
from pyfaas.gateway.app import PRUNER
from pyfaas.gateway.listener import GatewayServer
from pyfaas.gateway.pruning import Pruner
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Queue
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import Outcome
from tests.factories import gateway_settings, queued_call
from tests.unit.gateway.backends import BACKENDS, started_queue
from tests.unit.gateway.conftest import CREDS


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    async with started_queue(request, tmp_path) as started:
        yield started


async def _finished(queue: Queue, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        call = queued_call()
        await queue.put(call)
        [delivery] = await queue.claim(limit=1, lease=30, wait=5)
        await queue.ack(delivery, Outcome(status_code=200))
        ids.append(call.call_id)
    return ids


async def _until(check: Callable[[], bool], within: float = 20.0) -> None:
    """Poll ``check`` until it is true; a generous bound for a loaded machine."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.01)


async def test_the_gateway_prunes_finished_calls(provider: MemoryProvider, queue: Queue) -> None:
    old = await _finished(queue, 2)
    waiting = queued_call()
    await queue.put(waiting)
    settings = gateway_settings(result_retention=0.05, prune_interval=0.02)
    gateway = GatewayServer(settings, provider, queue, CREDS, grace=1.0)
    await gateway.start("127.0.0.1", 0)
    try:
        pruner = gateway.app[PRUNER]
        await _until(lambda: pruner.pruned >= 2)
        for call_id in old:
            assert await queue.record(call_id) is None
        # Only finished calls go.
        assert await queue.record(waiting.call_id) is not None
    finally:
        await gateway.close()
    task_names = {t.get_name() for t in asyncio.all_tasks()}
    assert "pyfaas-pruner" not in task_names


async def test_a_retention_of_zero_never_prunes(queue: Queue) -> None:
    [call_id] = await _finished(queue, 1)
    pruner = Pruner(queue, retention=0, interval=0.01)
    pruner.start()
    await asyncio.sleep(0.05)
    await pruner.stop()
    assert pruner.runs == 0
    assert await queue.record(call_id) is not None


async def test_a_failing_prune_is_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    class Failing(MemoryQueue):
        failures = 0

        async def prune(self, before: float) -> int:
            self.failures += 1
            raise QueueUnavailable("queue storage is full")

    queue = Failing()
    pruner = Pruner(queue, retention=1, interval=0.01)
    pruner.start()
    await _until(lambda: queue.failures >= 3)
    await pruner.stop()
    await pruner.stop()  # twice is harmless
    assert "pruning finished calls failed: queue storage is full" in caplog.text


def test_retention_settings() -> None:
    assert GatewaySettings.from_env({}).result_retention == 24 * 3600
    assert GatewaySettings.from_env({"PYFAAS_RESULT_RETENTION": "1h"}).result_retention == 3600
    window = GatewaySettings.from_env({"PYFAAS_IDEMPOTENCY_WINDOW": "2h"})
    assert window.result_retention == 7200
    same = {"PYFAAS_IDEMPOTENCY_WINDOW": "60m", "PYFAAS_RESULT_RETENTION": "1h"}
    assert GatewaySettings.from_env(same).result_retention == 3600
    with pytest.raises(ConfigError, match="PYFAAS_IDEMPOTENCY_WINDOW"):
        GatewaySettings.from_env(
            {"PYFAAS_IDEMPOTENCY_WINDOW": "2h", "PYFAAS_RESULT_RETENTION": "1h"}
        )
    with pytest.raises(ConfigError, match="PYFAAS_RESULT_RETENTION"):
        GatewaySettings.from_env({"PYFAAS_RESULT_RETENTION": "a day"})


def test_callback_depth_setting() -> None:
    assert GatewaySettings.from_env({}).max_callback_depth == 5
    assert GatewaySettings.from_env({"PYFAAS_MAX_CALLBACK_DEPTH": "0"}).max_callback_depth == 0
    with pytest.raises(ConfigError, match="PYFAAS_MAX_CALLBACK_DEPTH"):
        GatewaySettings.from_env({"PYFAAS_MAX_CALLBACK_DEPTH": "-1"})
