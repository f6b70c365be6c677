"""A steered call end to end in one process: the gateway, a real worker, the memory twin.

The worker invokes the function through the gateway as ``pyfaas serve`` runs
it; the tests read what a user reads: the call's record and its result.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession

from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.worker.app import run_worker
from tests.factories import worker_settings
from tests.unit.gateway.conftest import AUTH, MakeClient, deploy

Client = ClientSession


@pytest.fixture
async def served(
    make_client: MakeClient, provider: MemoryProvider, queue: MemoryQueue
) -> AsyncIterator[Client]:
    """A gateway client, with a worker consuming the gateway's queue."""
    client = await make_client()
    await deploy(provider, "echo")
    assert client._base_url is not None
    # A short claim wait: stopping the worker waits out the claim in progress.
    settings = worker_settings(str(client._base_url), claim_wait=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, queue=queue, stream=io.StringIO(), stop=stop))
    try:
        yield client
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


async def _state(
    client: Client, call_id: str, wanted: str, within: float = 20.0
) -> dict[str, object]:
    deadline = time.monotonic() + within
    while True:
        record = dict(await (await client.get(f"/system/calls/{call_id}", headers=AUTH)).json())
        if record["state"] == wanted:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"call {call_id} is {record['state']}, not {wanted}")
        await asyncio.sleep(0.02)


async def test_the_result_of_a_call_is_the_functions_answer(served: Client) -> None:
    resp = await served.post(
        "/async-function/echo", data=b"hello", headers={"Content-Type": "text/plain"}
    )
    call_id = resp.headers["X-Call-Id"]
    record = await _state(served, call_id, "succeeded")
    assert record["hasResult"] is True
    result = await served.get(f"/system/calls/{call_id}/result", headers=AUTH)
    assert result.status == 200
    assert await result.read() == b"hello"
    assert result.headers["Content-Type"].startswith("text/plain")
    assert result.headers["X-Call-Id"] == call_id


async def test_a_delayed_call_waits_and_a_cancelled_one_never_runs(served: Client) -> None:
    delay = {"X-Delay-Seconds": "0.2"}
    delayed = await served.post("/async-function/echo", data=b"a", headers=delay)
    cancelled = await served.post("/async-function/echo", data=b"b", headers=delay)
    submitted = time.time()
    gone = await served.delete(f"/system/calls/{cancelled.headers['X-Call-Id']}", headers=AUTH)
    assert gone.status == 202
    record = await _state(served, delayed.headers["X-Call-Id"], "succeeded")
    assert float(str(record["startedAt"])) >= submitted
    assert float(str(record["notBefore"])) <= float(str(record["startedAt"]))
    again = await served.get(f"/system/calls/{cancelled.headers['X-Call-Id']}", headers=AUTH)
    assert (await again.json())["state"] == "cancelled"


async def test_an_idempotent_resubmission_after_the_run_names_the_first_call(
    served: Client, queue: MemoryQueue
) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = await served.post("/async-function/echo", data=b"x", headers=key)
    await _state(served, first.headers["X-Call-Id"], "succeeded")
    again = await served.post("/async-function/echo", data=b"x", headers=key)
    assert again.status == 202
    assert again.headers["X-Call-Id"] == first.headers["X-Call-Id"]
    record = await _state(served, first.headers["X-Call-Id"], "succeeded")
    assert record["attempts"] == 1
    assert (await queue.stats()).queued == 0
