"""The queue contract (``pyfaas/queue/base.py``), run against every backend.

One suite, parametrised over the memory twin, a real SQLite file and a real
nats-server with JetStream: what passes here is what the gateway and the
queue-worker may rely on. Each test uses one lease length throughout, since
JetStream holds the lease per consumer, not per claim. No test asks which
backend it has; one that needs what a backend may lack reads the
declaration of it in ``pyfaas.queue.base``.
"""

from __future__ import annotations

import asyncio

import pytest

from pyfaas.errors import NotFound, QueueUnavailable
from pyfaas.queue import CallState, Outcome, Queue, QueuedCall
from pyfaas.queue._records import UNDECODABLE
from tests.clock import SharedClock
from tests.contract.conftest import ForeignWriter, Opener
from tests.factories import full_call


def make_call(call_id: str | None = None, body: bytes = b"hello") -> QueuedCall:
    return full_call(call_id, "echo", body=body)


async def test_put_claim_ack(queue: Queue) -> None:
    call = make_call()
    assert await queue.put(call) is True
    [delivery] = await queue.claim(limit=10, lease=5, wait=2)
    assert delivery.attempt == 1
    assert delivery.call == call
    await queue.ack(delivery, Outcome(status_code=200, callback_status=202, callback_attempts=1))
    record = await queue.record(call.call_id)
    assert record is not None
    assert record.state is CallState.SUCCEEDED
    assert (record.status_code, record.callback_status, record.callback_attempts) == (200, 202, 1)
    assert record.finished_at is not None
    assert await queue.claim(limit=10, lease=5, wait=0.2) == []


async def test_put_same_call_id_twice_stores_once(queue: Queue) -> None:
    call = make_call()
    assert await queue.put(call) is True
    assert await queue.put(make_call(call.call_id, body=b"other")) is False
    deliveries = await queue.claim(limit=10, lease=5, wait=2)
    assert [d.call.body for d in deliveries] == [b"hello"]
    await queue.ack(deliveries[0], Outcome(status_code=200))
    assert await queue.put(call) is False  # still a duplicate once settled


async def test_claim_with_limit_one_is_fifo(queue: Queue) -> None:
    ids = [f"call-{i}" for i in range(5)]
    for call_id in ids:
        await queue.put(make_call(call_id))
    seen = []
    for _ in ids:
        [delivery] = await queue.claim(limit=1, lease=5, wait=2)
        seen.append(delivery.call.call_id)
        await queue.ack(delivery, Outcome(status_code=200))
    assert seen == ids


async def test_claim_waits_for_a_put(queue: Queue, clock: SharedClock) -> None:
    waiter = asyncio.create_task(queue.claim(limit=1, lease=5, wait=5))
    await clock.sleep(0.2)
    await queue.put(make_call("late"))
    deliveries = await asyncio.wait_for(waiter, timeout=10)
    assert [d.call.call_id for d in deliveries] == ["late"]


async def test_expired_lease_is_delivered_again(queue: Queue) -> None:
    await queue.put(make_call("c1"))
    # A lease of a second, as below: a busy machine's pause of half a second
    # would let the redelivery pass unclaimed and count a third attempt.
    [first] = await queue.claim(limit=1, lease=1.0, wait=2)
    assert first.attempt == 1
    [again] = await queue.claim(limit=1, lease=1.0, wait=5)
    assert again.call.call_id == "c1"
    assert again.attempt == 2
    await queue.ack(again, Outcome(status_code=200))
    record = await queue.record("c1")
    assert record is not None
    assert record.attempts == 2


async def test_settling_a_lost_lease_raises_not_found(queue: Queue) -> None:
    # A lease of a second: what the test does with the second claim fits in it.
    await queue.put(make_call("c1"))
    [first] = await queue.claim(limit=1, lease=1.0, wait=2)
    [again] = await queue.claim(limit=1, lease=1.0, wait=5)
    assert again.attempt == 2
    with pytest.raises(NotFound):
        await queue.ack(first, Outcome(status_code=500))
    with pytest.raises(NotFound):
        await queue.retry(first, 0, Outcome(status_code=500))
    with pytest.raises(NotFound):
        await queue.bury(first, Outcome(error="late"))
    with pytest.raises(NotFound):
        await queue.extend(first, 5)
    record = await queue.record("c1")
    assert record is not None
    # The lost lease's settles wrote nothing (NATS records a claim only once it ran a while).
    assert record.state in (CallState.QUEUED, CallState.RUNNING)
    assert (await queue.stats()).dead == 0
    await queue.ack(again, Outcome(status_code=200))
    with pytest.raises(NotFound):
        await queue.ack(again, Outcome(status_code=200))
    record = await queue.record("c1")
    assert record is not None
    assert (record.state, record.status_code, record.attempts) == (CallState.SUCCEEDED, 200, 2)


async def test_a_lease_another_client_took_is_lost(opener: Opener) -> None:
    first_worker, second_worker = await opener(), await opener()
    await first_worker.put(make_call("c1"))
    [first] = await first_worker.claim(limit=1, lease=1.0, wait=2)
    [again] = await second_worker.claim(limit=1, lease=1.0, wait=5)
    assert again.attempt == 2
    with pytest.raises(NotFound):
        await first_worker.retry(first, 0, Outcome(status_code=503))
    with pytest.raises(NotFound):
        await first_worker.ack(first, Outcome(status_code=500))
    await second_worker.ack(again, Outcome(status_code=200))
    record = await first_worker.record("c1")
    assert record is not None
    assert (record.state, record.status_code) == (CallState.SUCCEEDED, 200)
    assert await first_worker.claim(limit=1, lease=1.0, wait=0.5) == []


async def test_a_message_that_holds_no_call_becomes_a_dead_letter(
    queue: Queue, write_foreign: ForeignWriter
) -> None:
    if not queue.foreign_writes or write_foreign is None:
        pytest.skip("no other program can write where this backend keeps its calls")
    for payload in (b"\xff\x00 not json", b'{"id": 7}', b"[1, 2]"):
        await write_foreign(payload)
    await queue.put(make_call("real"))
    [delivery] = await queue.claim(limit=1, lease=5, wait=2)
    assert delivery.call == make_call("real")
    dead = await queue.dead_letters()
    assert len(dead) == 3
    assert {(r.state, r.error) for r in dead} == {(CallState.DEAD, UNDECODABLE)}
    assert len({r.call_id for r in dead}) == 3
    record = await queue.record(dead[0].call_id)
    assert record is not None
    assert record.error == UNDECODABLE
    assert (await queue.stats()).dead == 3
    await queue.ack(delivery, Outcome(status_code=200))
    assert await queue.claim(limit=10, lease=5, wait=0.2) == []

    # Replayed, a set-aside message is set aside again (under another id on NATS).
    await queue.replay(dead[0].call_id)
    assert await queue.claim(limit=10, lease=5, wait=0.3) == []
    again = await queue.dead_letters()
    assert len(again) == 3
    assert {r.error for r in again} == {UNDECODABLE}


async def test_extend_keeps_a_call_from_redelivery(
    opener: Opener, queue: Queue, clock: SharedClock
) -> None:
    other = await opener()
    await queue.put(make_call("c1"))
    [delivery] = await queue.claim(limit=1, lease=0.6, wait=2)
    for _ in range(4):
        await clock.sleep(0.3)
        await queue.extend(delivery, 0.6)
    assert await other.claim(limit=1, lease=0.6, wait=0.2) == []
    await queue.ack(delivery, Outcome(status_code=200))


async def test_retry_is_not_visible_before_its_delay(queue: Queue) -> None:
    await queue.put(make_call("c1"))
    [delivery] = await queue.claim(limit=1, lease=5, wait=2)
    await queue.retry(delivery, 1.0, Outcome(status_code=503))
    record = await queue.record("c1")
    assert record is not None
    assert (record.state, record.status_code) == (CallState.RETRYING, 503)
    assert await queue.claim(limit=1, lease=5, wait=0.3) == []
    [again] = await queue.claim(limit=1, lease=5, wait=5)
    assert again.call.call_id == "c1"
    assert again.attempt == 2


async def test_bury_then_replay(queue: Queue) -> None:
    await queue.put(make_call("c1"))
    await queue.put(make_call("c2"))
    for _ in range(2):
        [delivery] = await queue.claim(limit=1, lease=5, wait=2)
        await queue.bury(delivery, Outcome(status_code=500, error="boom"))
    dead = await queue.dead_letters()
    assert [r.call_id for r in dead] == ["c2", "c1"]  # newest first
    assert dead[0].state is CallState.DEAD
    assert dead[0].error == "boom"
    assert (await queue.stats()).dead == 2
    assert await queue.claim(limit=1, lease=5, wait=0.2) == []

    await queue.replay("c1")
    record = await queue.record("c1")
    assert record is not None
    assert record.state is CallState.QUEUED
    [delivery] = await queue.claim(limit=1, lease=5, wait=2)
    assert delivery.call == make_call("c1")
    assert delivery.attempt == 1
    await queue.ack(delivery, Outcome(status_code=200))
    assert [r.call_id for r in await queue.dead_letters()] == ["c2"]
    with pytest.raises(NotFound):
        await queue.replay("c1")
    with pytest.raises(NotFound):
        await queue.replay("nope")


async def test_record_follows_the_lifecycle(queue: Queue) -> None:
    assert await queue.record("nope") is None
    call = make_call("c1")
    await queue.put(call)
    record = await queue.record("c1")
    assert record is not None
    assert (record.state, record.function, record.namespace) == (
        CallState.QUEUED,
        "echo",
        "openfaas-fn",
    )
    assert record.submitted_at == call.submitted_at
    assert record.callback_url == call.callback_url
    [delivery] = await queue.claim(limit=1, lease=5, wait=2)
    await queue.mark_running(delivery)
    record = await queue.record("c1")
    assert record is not None
    assert (record.state, record.attempts) == (CallState.RUNNING, 1)
    assert record.started_at is not None
    await queue.ack(delivery, Outcome(status_code=500, callback_status=200, callback_attempts=2))
    record = await queue.record("c1")
    assert record is not None
    assert (record.state, record.status_code, record.callback_attempts) == (
        CallState.FAILED,
        500,
        2,
    )
    assert record.to_wire()["state"] == "failed"


async def test_stats_count_queued_running_dead(queue: Queue) -> None:
    for i in range(3):
        await queue.put(make_call(f"c{i}"))
    [delivery] = await queue.claim(limit=1, lease=5, wait=2)
    stats = await queue.stats()
    assert (stats.queued, stats.running, stats.dead) == (2, 1, 0)
    await queue.bury(delivery, Outcome(error="gave up"))
    stats = await queue.stats()
    assert (stats.queued, stats.running, stats.dead) == (2, 0, 1)


async def test_concurrent_claimers_never_share_a_call(opener: Opener) -> None:
    producer = await opener()
    workers = [await opener() for _ in range(3)]
    ids = {f"c{i}" for i in range(60)}
    for call_id in sorted(ids):
        await producer.put(make_call(call_id))

    async def drain(worker: Queue) -> list[str]:
        got: list[str] = []
        while True:
            deliveries = await worker.claim(limit=4, lease=10, wait=0.5)
            if not deliveries:
                return got
            for delivery in deliveries:
                got.append(delivery.call.call_id)
                await worker.ack(delivery, Outcome(status_code=200))

    results = await asyncio.gather(*(drain(w) for w in workers))
    claimed = [call_id for got in results for call_id in got]
    assert sorted(claimed) == sorted(ids)


async def test_closed_queue_refuses_puts(opener: Opener) -> None:
    queue = await opener()
    await queue.close()
    with pytest.raises(QueueUnavailable):
        await queue.put(make_call())
