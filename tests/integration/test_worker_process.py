"""``python -m pyfaas.worker`` as a real process on a real SQLite queue file."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyfaas.queue.backends.sqlite import SqliteQueue
from pyfaas.queue.envelope import CallState
from tests.factories import gateway_call
from tests.unit.worker.conftest import eventually, settled
from tests.unit.worker.fakes import FakeGateway, Reply, serve

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    async with serve(FakeGateway()) as fake:
        yield fake


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[SqliteQueue]:
    q = SqliteQueue(str(tmp_path / "queue.db"))
    await q.start()
    yield q
    await q.close()


async def start_worker(
    tmp_path: Path, queue: SqliteQueue, gateway: FakeGateway, **env: str
) -> asyncio.subprocess.Process:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYFAAS_HOME": str(tmp_path / "home"),
        "PYFAAS_QUEUE": f"sqlite://{queue.path}",
        "PYFAAS_GATEWAY": gateway.url,
        "initial_retry_wait": "10ms",
        "max_retry_wait": "50ms",
        **env,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyfaas.worker",
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_worker_process_drains_queue_and_stops_on_sigterm(
    tmp_path: Path, queue: SqliteQueue, gateway: FakeGateway
) -> None:
    gateway.script["flaky.openfaas-fn"] = [Reply(status=503), Reply(status=200)]
    gateway.script["slow.openfaas-fn"] = [Reply(delay=0.8)]
    quick = gateway_call("flaky", callback_url=f"{gateway.url}/cb/ok")
    await queue.put(quick)
    worker = await start_worker(tmp_path, queue, gateway, max_inflight="4")
    try:
        record = await settled(queue, quick.call_id, within=20)
        assert record.state is CallState.SUCCEEDED
        assert record.attempts == 2
        assert record.callback_status == 200

        slow = gateway_call("slow")
        await queue.put(slow)

        async def slow_started() -> bool:
            return any("slow" in seen.path for seen in gateway.calls)

        await eventually(slow_started, within=20)
        worker.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(worker.communicate(), 20)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert worker.returncode == 0, err.decode()
    slow_record = await queue.record(slow.call_id)
    assert slow_record is not None
    assert slow_record.state is CallState.SUCCEEDED
    text = out.decode()
    assert "Starting queue-worker. Concurrency: 4 Queue: sqlite://" in text
    assert "Retrying flaky.openfaas-fn" in text
    assert "Stopped" in text


async def test_bad_setting_exits_with_one_line(
    tmp_path: Path, queue: SqliteQueue, gateway: FakeGateway
) -> None:
    worker = await start_worker(tmp_path, queue, gateway, max_inflight="lots")
    _, err = await asyncio.wait_for(worker.communicate(), 20)
    assert worker.returncode == 2
    assert err.decode().strip() == "queue-worker: max_inflight: 'lots' is not an integer"
