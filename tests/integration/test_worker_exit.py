"""A worker process whose queue can no longer take its settles exits 1, for its supervisor.

The SQLite queue file is swapped for a directory under a running worker and
its writer child killed: every writer it starts again fails to open the
file, so the settle of the call that was running fails for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyfaas.queue.backends.sqlite import SqliteQueue
from tests.factories import gateway_call
from tests.integration.test_worker_process import start_worker
from tests.proctree import command, descendants
from tests.unit.worker.conftest import eventually
from tests.unit.worker.fakes import FakeGateway, Reply, serve

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    async with serve(FakeGateway()) as fake:
        yield fake


async def test_a_worker_that_cannot_settle_exits_1(tmp_path: Path, gateway: FakeGateway) -> None:
    db = tmp_path / "queue.db"
    queue = SqliteQueue(str(db))
    await queue.start()
    gateway.script["slow.openfaas-fn"] = [Reply(delay=1.5)]
    await queue.put(gateway_call("slow"))
    await queue.close()
    worker = await start_worker(tmp_path, queue, gateway)
    try:

        async def running() -> bool:
            return bool(gateway.calls)

        await eventually(running, within=20)
        writers = [pid for pid, _ in descendants(worker.pid) if "_sqlite_writer" in command(pid)]
        assert writers, "the worker's SQLite writer was not found"
        _swap_for_a_directory(db)  # no writer can open the queue any more
        for pid in writers:
            os.kill(pid, signal.SIGKILL)
        out, err = await asyncio.wait_for(worker.communicate(), 60)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
    text = out.decode()
    assert worker.returncode == 1, (text, err.decode())
    assert "Settling failed (call" in text
    assert "given up after 6 tries" in text
    assert "Stopping the worker, it cannot go on: settling" in text
    assert "Stopped, exiting with status 1" in text


def _swap_for_a_directory(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{db}{suffix}", f"{db}{suffix}.gone")
    db.mkdir()
