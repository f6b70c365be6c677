"""Steered calls on the NATS queue against real nats-servers, where NATS has its own ways.

A restart of nats-server with delayed and cancelled calls in it, two
gateways and a worker sharing one stream, calls stored on the single subject
of before the lanes, a result too big for a record, attempts counted by the
run lock across retries and lost leases, and cancels racing claims. The
contract itself is ``tests/contract/test_queue_steering.py``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js import api

from pyfaas.errors import Conflict, NotFound
from pyfaas.queue import CallState, Outcome
from pyfaas.queue._records import new_record
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends.nats import NatsQueue
from pyfaas.queue.envelope import QueuedCall, StoredResult
from tests.factories import queued_call
from tests.helpers import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.nats]


def _call(call_id: str, function: str = "echo", **fields: Any) -> QueuedCall:
    values: dict[str, Any] = {"body": b"hi", "submitted_at": time.time(), "fingerprint": "fp"}
    values.update(fields)
    return queued_call(call_id, function, **values)


@pytest.fixture
def namespace() -> str:
    return f"n{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def queues(nats_server: NatsServer, namespace: str) -> AsyncIterator[list[NatsQueue]]:
    """Three handles on one queue: two gateways and a worker, each its own connection."""
    handles = [NatsQueue(nats_server.url, namespace=namespace) for _ in range(3)]
    await asyncio.gather(*(h.start() for h in handles))
    yield handles
    await asyncio.gather(*(h.close() for h in handles))


async def test_delayed_and_cancelled_calls_survive_a_restart_of_nats_server(
    tmp_path: Path,
) -> None:
    server = NatsServer(tmp_path).start()
    queue = NatsQueue(server.url, namespace="r", timeout=2)
    try:
        await queue.start()
        not_before = time.time() + 2.5
        await queue.put(_call("later", not_before=not_before))
        await queue.put(_call("early-seen", not_before=not_before))
        await queue.put(_call("gone"))
        await queue.put(_call("gone-later", not_before=not_before))
        assert (await queue.cancel("gone")).state is CallState.CANCELLED
        assert (await queue.cancel("gone-later")).state is CallState.CANCELLED
        # Seen early by a claim (nak'ed with its delay) before the restart.
        assert await queue.claim(limit=10, lease=5, wait=0.3) == []
        server.stop()
        server.start()  # the same port and store
        await queue.close()
        queue = NatsQueue(server.url, namespace="r", timeout=2)
        await queue.start()
        later = await queue.record("later")
        assert later is not None
        assert later.state is CallState.DELAYED
        got: dict[str, Any] = {}
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            for delivery in await queue.claim(limit=10, lease=5, wait=1):
                assert time.time() >= not_before - 0.05, "handed out before its time"
                got[delivery.call.call_id] = delivery.attempt
                await queue.mark_running(delivery)
                await queue.ack(delivery, Outcome(status_code=200))
        assert got == {"later": 1, "early-seen": 1}
        assert await queue.claim(limit=10, lease=5, wait=1) == []
        for call_id in ("gone", "gone-later"):
            record = await queue.record(call_id)
            assert record is not None
            assert record.state is CallState.CANCELLED
        stats = await queue.stats()
        assert (stats.queued, stats.delayed, stats.running) == (0, 0, 0)
    finally:
        await queue.close()
        server.stop()


async def test_two_gateways_and_a_worker_share_one_stream(queues: list[NatsQueue]) -> None:
    first, second, worker = queues
    assert await first.put(_call("same", fingerprint="a")) is True
    assert await second.put(_call("same", fingerprint="a")) is False
    with pytest.raises(Conflict, match="same"):
        await second.put(_call("same", fingerprint="b"))
    for i in range(6):
        await first.put(_call(f"f{i}", "f"))
    await second.put(_call("g0", "g"))
    await second.put(_call("h0", "h"))
    await first.put(_call("f-cancelled", "f"))
    assert (await second.cancel("f-cancelled")).state is CallState.CANCELLED
    deliveries = await worker.claim(limit=3, lease=5, wait=3)
    functions = [d.call.function for d in deliveries]
    assert len(set(functions)) == 3, functions  # four functions: three of them, one call each
    taken = {d.call.call_id for d in deliveries}
    for delivery in deliveries:
        await worker.ack(delivery, Outcome(status_code=200))
    rest = []
    while True:
        batch = await worker.claim(limit=10, lease=5, wait=1)
        if not batch:
            break
        rest += batch
        for delivery in batch:
            await worker.ack(delivery, Outcome(status_code=200))
    taken |= {d.call.call_id for d in rest}
    assert taken == {"same", "g0", "h0", *(f"f{i}" for i in range(6))}
    seen = await first.record("f0")
    assert seen is not None
    assert seen.state is CallState.SUCCEEDED


async def test_calls_on_the_subject_of_before_the_lanes_are_still_claimed(
    nats_server: NatsServer, namespace: str
) -> None:
    names = NatsQueue(nats_server.url, namespace=namespace).names
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        # The layout an older version made: one subject, one consumer.
        await js.add_stream(
            name=names.stream,
            subjects=[names.subject],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
        )
        old = queued_call("old", body=b"from before", submitted_at=time.time())
        await js.publish(names.subject, old.encode(), headers={"Nats-Msg-Id": "old"})
        kv = await js.create_key_value(bucket=names.bucket, history=1)
        await kv.create(records.key_for("old"), records.encode(new_record(old)))
    finally:
        await nc.close()
    queue = NatsQueue(nats_server.url, namespace=namespace)
    await queue.start()
    try:
        await queue.put(_call("new"))
        deliveries = await queue.claim(limit=10, lease=5, wait=3)
        assert sorted((d.call.call_id, d.attempt) for d in deliveries) == [("new", 1), ("old", 1)]
        for delivery in deliveries:
            await queue.mark_running(delivery)
            await queue.ack(delivery, Outcome(status_code=200))
        record = await queue.record("old")
        assert record is not None
        assert (record.state, [a.attempt for a in record.history]) == (CallState.SUCCEEDED, [1])
        assert (await queue.stats()).queued == 0
    finally:
        await queue.close()


async def test_a_result_too_big_for_a_record_goes_to_the_object_store(
    queues: list[NatsQueue],
) -> None:
    gateway, _, worker = queues
    body = bytes(range(256)) * 4096  # 1 MiB: the worker's cap, a third more in base64
    big = StoredResult(200, [("Content-Type", "application/octet-stream")], body, size=len(body))
    await gateway.put(_call("big"))
    [delivery] = await worker.claim(limit=1, lease=10, wait=3)
    await worker.ack(delivery, Outcome(status_code=200, result=big))
    assert await gateway.result("big") == big
    record = await gateway.record("big")
    assert record is not None
    assert record.has_result is True
    assert await gateway.prune(time.time() + 1) == 1
    assert await gateway.result("big") is None


async def test_attempts_count_across_retries_and_lost_leases(queues: list[NatsQueue]) -> None:
    gateway, _, worker = queues
    await gateway.put(_call("c1"))
    [first] = await worker.claim(limit=1, lease=1, wait=3)
    assert first.attempt == 1
    await worker.retry(first, 0.2, Outcome(status_code=503))
    [second] = await worker.claim(limit=1, lease=1, wait=5)
    assert second.attempt == 2
    await worker.mark_running(second)
    # The lease runs out (the worker "died"): handed out again, one attempt more.
    [third] = await worker.claim(limit=1, lease=1, wait=5)
    assert (third.call.call_id, third.attempt) == ("c1", 3)
    with pytest.raises(NotFound):
        await worker.ack(second, Outcome(status_code=200))
    await worker.ack(third, Outcome(status_code=200))
    record = await gateway.record("c1")
    assert record is not None
    assert (record.state, record.attempts) == (CallState.SUCCEEDED, 3)
    assert [a.attempt for a in record.history] == [1, 3]


async def test_a_cancel_racing_a_claim_either_runs_the_call_or_cancels_it(
    queues: list[NatsQueue],
) -> None:
    gateway, canceller, worker = queues
    outcomes = []
    for i in range(15):
        call_id = f"race{i}"
        await gateway.put(_call(call_id))

        async def run(call_id: str = call_id) -> bool:
            for delivery in await worker.claim(limit=1, lease=5, wait=2):
                assert delivery.call.call_id == call_id
                try:
                    await worker.mark_running(delivery)
                except NotFound:
                    return False  # taken back: never run
                await worker.ack(delivery, Outcome(status_code=200))
                return True
            return False

        async def cancel(call_id: str = call_id) -> bool:
            try:
                await canceller.cancel(call_id)
            except Conflict:
                return False
            return True

        ran, cancelled = await asyncio.gather(run(), cancel())
        assert ran != cancelled, f"{call_id}: ran={ran} cancelled={cancelled}"
        record = await gateway.record(call_id)
        assert record is not None
        assert record.state is (CallState.SUCCEEDED if ran else CallState.CANCELLED)
        outcomes.append(ran)
    assert await worker.claim(limit=10, lease=5, wait=0.5) == []
    stats = await gateway.stats()
    assert (stats.queued, stats.running) == (0, 0)


async def test_a_settled_call_delivered_again_after_a_lost_ack_is_not_run_again(
    queues: list[NatsQueue],
) -> None:
    gateway, _, worker = queues
    await gateway.put(_call("c1"))
    [delivery] = await worker.claim(limit=1, lease=1, wait=3)
    await worker.mark_running(delivery)
    # The final record is written and the ack never reaches the server.
    await worker._update(delivery, CallState.SUCCEEDED, Outcome(status_code=200))
    assert await worker.claim(limit=1, lease=1, wait=2.5) == []  # redelivered, and dropped
    record = await gateway.record("c1")
    assert record is not None
    assert (record.state, record.attempts) == (CallState.SUCCEEDED, 1)
    assert (await gateway.stats()).queued == 0


async def test_a_delayed_call_on_the_old_subject_runs_as_its_first_attempt(
    queues: list[NatsQueue], nats_server: NatsServer
) -> None:
    _, _, worker = queues
    names = worker.names
    delayed = _call("old-later", not_before=time.time() + 0.5)
    odd = _call("odd-due")
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.publish(names.subject, delayed.encode(), headers={"Nats-Msg-Id": "old-later"})
        # A due time no number, as any publisher could write: no failure, run now.
        await js.publish(names.subject, odd.encode(), headers={"Pyfaas-Due": "soon"})
    finally:
        await nc.close()
    got: dict[str, int] = {}
    deadline = time.monotonic() + 10
    while len(got) < 2 and time.monotonic() < deadline:
        for delivery in await worker.claim(limit=10, lease=5, wait=1):
            got[delivery.call.call_id] = delivery.attempt
            await worker.ack(delivery, Outcome(status_code=200))
    assert got == {"old-later": 1, "odd-due": 1}
