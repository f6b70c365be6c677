"""``python -m pyfaas.worker`` on a real SQLite file stores each answer and a bury's reason."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyfaas.queue.backends.sqlite import SqliteQueue
from pyfaas.queue.envelope import CallState, QueuedCall
from tests.unit.worker.conftest import settled
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


def _call(function: str) -> QueuedCall:
    call_id = uuid.uuid4().hex
    headers = [("X-Call-Id", call_id), ("X-Start-Time", str(time.time_ns()))]
    return QueuedCall(call_id, function, "openfaas-fn", headers=headers, submitted_at=time.time())


async def test_the_worker_process_stores_answers_cut_at_result_max_bytes(
    tmp_path: Path, queue: SqliteQueue, gateway: FakeGateway
) -> None:
    gateway.script["made.openfaas-fn"] = [
        Reply(status=201, body=b"made", headers={"Content-Type": "text/x-made"})
    ]
    gateway.script["big.openfaas-fn"] = [Reply(body=b"z" * 3000)]
    gateway.script["broken.openfaas-fn"] = [Reply(status=500, body=b"boom")]
    made, big, broken = _call("made"), _call("big"), _call("broken")
    for call in (made, big, broken):
        await queue.put(call)
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYFAAS_HOME": str(tmp_path / "home"),
        "PYFAAS_QUEUE": f"sqlite://{queue.path}",
        "PYFAAS_GATEWAY": gateway.url,
        "result_max_bytes": "1Ki",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyfaas.worker",
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        records = [await settled(queue, call.call_id, within=20) for call in (made, big, broken)]
        worker.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(worker.communicate(), 20)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    assert worker.returncode == 0, err.decode()
    assert [r.state for r in records] == [CallState.SUCCEEDED] * 2 + [CallState.DEAD]
    assert records[2].reason == "not retryable: 500"
    answer = await queue.result(made.call_id)
    assert answer is not None
    assert (answer.status, answer.body) == (201, b"made")
    assert ("Content-Type", "text/x-made") in answer.headers
    cut = await queue.result(big.call_id)
    assert cut is not None
    assert (len(cut.body), cut.truncated, cut.size) == (1024, True, 3000)
    dead = await queue.result(broken.call_id)
    assert dead is not None
    assert (dead.status, dead.body) == (500, b"boom")
    assert "not retryable: 500" in out.decode()
