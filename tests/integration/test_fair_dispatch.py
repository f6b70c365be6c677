"""Fair dispatch on the real backends: one call of another function is not stuck behind a flood.

A small real HTTP server stands in for the gateway: ``slow`` sleeps 0.2 s
per call, ``fast`` answers at once. With 400 calls of ``slow`` queued and
the worker (in this process, default ``max_inflight=1``) busy with them,
one call of ``fast`` must start within a few dispatch slots: the queue's
claim hands functions out in turn, and the worker keeps that turn for the
calls it claimed ahead. Run without fair claims it would wait 80 s.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import QueuedCall
from pyfaas.worker.app import run_worker
from pyfaas.worker.settings import WorkerSettings
from tests.helpers import NatsServer, nats_server_binary
from tests.unit.worker.fakes import function_app, serve

pytestmark = pytest.mark.integration

FLOOD = 400
SLOW = 0.2  # seconds per call of "slow"
BOUND = 5.0  # generous: one slot is 0.2 s


class _Gateway:
    """Serves ``/function/{name}.{ns}``: notes when each call started; ``slow`` sleeps."""

    def __init__(self) -> None:
        self.started: dict[str, list[float]] = {}
        self.url = ""

    async def function(self, request: web.Request) -> web.Response:
        await request.read()
        name = request.match_info["ref"].split(".")[0]
        self.started.setdefault(name, []).append(time.monotonic())
        if name == "slow":
            await asyncio.sleep(SLOW)
        return web.Response(body=b"ok")

    def app(self) -> web.Application:
        return function_app(self.function)


def _call(function: str) -> QueuedCall:
    call_id = uuid.uuid4().hex
    headers = [("X-Call-Id", call_id), ("X-Start-Time", str(time.time_ns()))]
    return QueuedCall(call_id, function, "openfaas-fn", headers=headers, submitted_at=time.time())


BACKENDS = [
    "sqlite",
    pytest.param(
        "nats",
        marks=[
            pytest.mark.nats,
            pytest.mark.skipif(nats_server_binary() is None, reason="nats-server not installed"),
        ],
    ),
]


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    handle: Queue
    if request.param == "sqlite":
        from pyfaas.queue.backends.sqlite import SqliteQueue

        handle = SqliteQueue(str(tmp_path / "queue.db"))
    else:
        from pyfaas.queue.backends.nats import NatsQueue

        server: NatsServer = request.getfixturevalue("nats_server")
        handle = NatsQueue(server.url, namespace=f"fair{uuid.uuid4().hex[:8]}")
    await handle.start()
    yield handle
    await handle.close()


async def _until(check: object, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_call_of_another_function_starts_within_a_few_slots_of_a_flood(
    queue: Queue,
) -> None:
    for _ in range(FLOOD):
        await queue.put(_call("slow"))
    async with serve(_Gateway()) as gateway:
        settings = WorkerSettings(
            queue_url="(given)",
            gateway_url=gateway.url,
            claim_wait=0.05,
            ack_wait=10.0,
            grace_period=1.0,
            worker_name="fair-worker",
        )
        stop = asyncio.Event()
        output = io.StringIO()
        worker = asyncio.create_task(run_worker(settings, queue=queue, stream=output, stop=stop))
        try:
            # The worker is busy with the flood, and holds some of it claimed ahead.
            assert await _until(lambda: len(gateway.started.get("slow", [])) >= 3, 30)
            put_at = time.monotonic()
            await queue.put(_call("fast"))
            started = await _until(lambda: "fast" in gateway.started, 30)
            waited = (gateway.started["fast"][0] if started else time.monotonic()) - put_at
            ahead = sum(1 for t in gateway.started["slow"] if t > put_at)
            print(f"\nfast started {waited:.3f}s after its put; {ahead} slow call(s) before it")
            assert started, "the call of fast never started"
            assert waited < BOUND
        finally:
            stop.set()
            code = await asyncio.wait_for(worker, 30)
        assert code == 0
