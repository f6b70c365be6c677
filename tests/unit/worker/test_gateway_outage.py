"""The worker while its gateway is down: calls wait for it instead of spending attempts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from aiohttp import web

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import CallState
from pyfaas.worker.loop import HANDED_BACK
from pyfaas.worker.settings import WorkerSettings
from tests.factories import gateway_call
from tests.helpers import refused_port
from tests.unit.worker.conftest import Running, eventually, running_worker, settled
from tests.unit.worker.fakes import FakeGateway

UNREACHABLE_LINE = "Cannot reach the gateway for echo.openfaas-fn"


@asynccontextmanager
async def gateway_on(fake: FakeGateway, sock: socket.socket) -> AsyncIterator[FakeGateway]:
    """``fake`` serving on ``sock``, the port the worker has been refused on until now."""
    runner = web.AppRunner(fake.app(), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    sock.listen()
    await web.SockSite(runner, sock).start()
    fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def _said(worker: Running, text: str) -> bool:
    return any(text in line for line in worker.lines)


# It waits out the worker's reconnection backoff (0.1 s, doubling), which
# run_worker does not let a test shorten: it runs with the slow tier.
@pytest.mark.integration
async def test_call_waits_for_a_gateway_that_comes_up_and_runs_once(
    queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = gateway_call("echo", callback_url=None)
    await queue.put(call)
    with refused_port() as sock:
        port = sock.getsockname()[1]
        down = replace(settings, gateway_url=f"http://127.0.0.1:{port}", max_retry_attempts=2)
        async with running_worker(down, queue) as worker:

            async def waiting() -> bool:
                return _said(worker, UNREACHABLE_LINE)

            await eventually(waiting)
            await asyncio.sleep(0.3)  # several reconnection attempts: none may count
            record = await queue.record(call.call_id)
            assert record is not None
            assert record.state is CallState.RUNNING
            async with gateway_on(FakeGateway(), sock) as gateway:
                done = await settled(queue, call.call_id, within=10)
    assert done.state is CallState.SUCCEEDED
    assert done.attempts == 1
    assert len(gateway.calls) == 1
    assert sum(UNREACHABLE_LINE in line for line in worker.lines) == 1


async def test_shutdown_hands_back_a_call_still_waiting_for_the_gateway(
    queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = gateway_call("echo", callback_url=None)
    await queue.put(call)
    with refused_port() as sock:
        port = sock.getsockname()[1]
        down = replace(settings, gateway_url=f"http://127.0.0.1:{port}", grace_period=0.05)
        async with running_worker(down, queue) as worker:

            async def waiting() -> bool:
                return _said(worker, UNREACHABLE_LINE)

            await eventually(waiting)
    record = await queue.record(call.call_id)
    assert record is not None
    assert record.state is not CallState.DEAD
    assert record.error == HANDED_BACK
    # Back in the queue, waiting to be claimed again (a settle the queue counts as a retry).
    stats = await queue.stats()
    assert (stats.queued + stats.retrying, stats.running) == (1, 0)


async def test_gateway_dropping_the_connection_counts_as_a_failed_attempt(
    queue: MemoryQueue, settings: WorkerSettings
) -> None:
    # Connected, then cut off: the function may have run, so this is a 503 like any other.
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    call = gateway_call("echo", callback_url=None)
    await queue.put(call)
    try:
        cut = replace(settings, gateway_url=f"http://127.0.0.1:{port}", max_retry_attempts=2)
        async with running_worker(cut, queue) as worker:
            record = await settled(queue, call.call_id)
    finally:
        server.close()
        await server.wait_closed()
    assert record.state is CallState.DEAD
    assert record.status_code == 503
    assert record.attempts == 2
    assert record.error
    assert not _said(worker, UNREACHABLE_LINE)
