"""Submissions through the gateway while a real nats-server stops, pauses and comes back.

The rule under test: a 202 means stored, and the call runs once; a 503
means not stored, unless it carries the call's ``X-Call-Id``, in which case
the call may run and a submission again with that id runs it exactly once.
"Runs" is read off the queue itself: after the server is back, every call
stored is claimed once by a plain drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession, ClientTimeout

from pyfaas.credentials import Credentials
from pyfaas.gateway.listener import GatewayServer
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Outcome
from pyfaas.queue.backends.nats import NatsQueue
from tests.factories import deployment
from tests.helpers import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.nats]


async def until(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Poll ``predicate`` until it is true; fail the test on time-out."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)


@dataclass
class Lab:
    server: NatsServer
    queue: NatsQueue  # the gateway's
    client: ClientSession
    namespace: str

    async def submit(self, body: str, call_id: str | None = None) -> tuple[int, str | None, str]:
        headers = {"X-Call-Id": call_id} if call_id else {}
        async with self.client.post("/async-function/echo", data=body, headers=headers) as resp:
            return resp.status, resp.headers.get("X-Call-Id"), await resp.text()

    async def drain(self) -> Counter[str]:
        """How many times each body was claimed, acking each, until the queue is empty."""
        worker = NatsQueue(self.server.url, namespace=self.namespace, timeout=5)
        await worker.start()
        ran: Counter[str] = Counter()
        try:
            while deliveries := await worker.claim(limit=100, lease=30, wait=1.0):
                for delivery in deliveries:
                    ran[delivery.call.body.decode()] += 1
                    await worker.ack(delivery, Outcome(status_code=200))
        finally:
            await worker.close()
        return ran


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    """A gateway with a NATS queue (1 s publish time-out) on a nats-server of its own."""
    server = NatsServer(tmp_path / "nats").start()
    namespace = f"o{uuid.uuid4().hex[:8]}"
    queue = NatsQueue(server.url, namespace=namespace, timeout=1)
    provider = MemoryProvider(lambda name, ns: Endpoint(port=9, replica=f"{name}-0"))
    await provider.deploy(deployment("echo"), "openfaas-fn")
    settings = GatewaySettings(max_async_body=64 * 1024, autoscale=False)
    gateway = GatewayServer(settings, provider, queue, Credentials("admin", "x"), grace=1.0)
    try:
        await queue.start()
        port = await gateway.start("127.0.0.1", 0)
        timeout = ClientTimeout(total=30)
        async with ClientSession(f"http://127.0.0.1:{port}", timeout=timeout) as client:
            yield Lab(server, queue, client, namespace)
    finally:
        await gateway.close()
        await queue.close()
        if server._proc is not None:
            server._proc.send_signal(signal.SIGCONT)  # in case a test left it paused
        server.stop()


async def test_a_submission_while_nats_is_down_is_refused_and_never_runs(lab: Lab) -> None:
    assert (await lab.submit("before"))[0] == 202
    await asyncio.to_thread(lab.server.stop)
    await until(lambda: not lab.queue.connected)
    status, call_id, text = await lab.submit("during")
    assert (status, call_id) == (503, None)
    assert "not stored" in text
    await asyncio.to_thread(lab.server.start)
    await until(lambda: lab.queue.connected)
    assert (await lab.submit("after"))[0] == 202
    # The refused call was not held by the client and sent on reconnecting.
    assert await lab.drain() == Counter({"before": 1, "after": 1})


async def test_an_unconfirmed_submission_names_the_call_and_its_retry_runs_it_once(
    lab: Lab,
) -> None:
    proc = lab.server._proc
    assert proc is not None
    proc.send_signal(signal.SIGSTOP)  # connected, but nothing is acknowledged
    try:
        retried, left = await asyncio.gather(lab.submit("retried"), lab.submit("left alone"))
    finally:
        proc.send_signal(signal.SIGCONT)
    for status, call_id, text in (retried, left):
        assert status == 503
        assert call_id is not None
        assert "it may run" in text
        assert f"X-Call-Id: {call_id}" in text
    status, again_id, _ = await lab.submit("retried", call_id=retried[1])
    assert (status, again_id) == (202, retried[1])
    assert (await lab.submit("retried", call_id=retried[1]))[0] == 202
    # Each ran once: the retried one, and the one whose caller never came back.
    assert await lab.drain() == Counter({"retried": 1, "left alone": 1})
    record = await lab.queue.record(str(retried[1]))
    assert record is not None


async def test_every_answer_during_a_restart_tells_the_truth(lab: Lab) -> None:
    answers: list[tuple[str, int, str | None]] = []
    stop = asyncio.Event()
    counter = iter(range(1_000_000))

    async def submitter() -> None:
        while not stop.is_set() and len(answers) < 5000:
            body = f"call-{next(counter)}"
            status, call_id, _ = await lab.submit(body)
            answers.append((body, status, call_id))
            if status != 202:
                await asyncio.sleep(0.01)

    submitters = [asyncio.create_task(submitter()) for _ in range(6)]
    try:
        await until(lambda: len(answers) >= 50)
        await asyncio.to_thread(lab.server.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(lab.server.start)
        await until(lambda: lab.queue.connected)
        seen = len(answers)
        await until(lambda: sum(1 for _, s, _ in answers[seen:] if s == 202) >= 20)
    finally:
        stop.set()
        for task in submitters:
            with contextlib.suppress(Exception):
                await task

    named = [(body, call_id) for body, status, call_id in answers if status == 503 and call_id]
    for body, call_id in named:
        assert (await lab.submit(body, call_id=call_id))[0] == 202
    ran = await lab.drain()
    accepted = {body for body, status, _ in answers if status == 202}
    refused = {body for body, status, call_id in answers if status == 503 and not call_id}
    assert refused, "the outage refused no submission"
    assert {status for _, status, _ in answers} <= {202, 503}
    assert all(ran[body] == 1 for body in accepted)
    assert all(ran[body] == 0 for body in refused)
    assert all(ran[body] == 1 for body, _ in named)
    assert set(ran) == accepted | {body for body, _ in named}
