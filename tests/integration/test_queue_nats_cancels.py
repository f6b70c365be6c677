"""Cancel marks on the NATS queue against nats-server: each side of a cancel racing a claim.

A first delivery runs without its run lock unless a cancel marked the call
(``_nats_cancels``); the race itself, many times over, is in
``test_queue_nats_steering``. Here each interleaving is set up in turn.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from pyfaas.errors import Conflict, NotFound
from pyfaas.queue import CallState, Outcome
from pyfaas.queue.backends._nats_locks import CANCELLED
from pyfaas.queue.backends._nats_seqs import stored_seq, undelivered_seq
from pyfaas.queue.backends.nats import NatsQueue
from pyfaas.queue.envelope import Delivery
from tests.factories import queued_call
from tests.helpers import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.nats]


@pytest.fixture
async def queues(nats_server: NatsServer) -> AsyncIterator[tuple[NatsQueue, NatsQueue]]:
    """A gateway's handle and a worker's on one queue."""
    namespace = f"m{uuid.uuid4().hex[:8]}"
    handles = (
        NatsQueue(nats_server.url, namespace=namespace),
        NatsQueue(nats_server.url, namespace=namespace),
    )
    await asyncio.gather(*(h.start() for h in handles))
    yield handles
    await asyncio.gather(*(h.close() for h in handles))


async def _one(queue: NatsQueue) -> Delivery:
    [delivery] = await queue.claim(limit=1, lease=10, wait=3)
    return delivery


async def test_a_cancel_after_the_claim_got_the_message_is_a_conflict_and_the_call_runs(
    queues: tuple[NatsQueue, NatsQueue],
) -> None:
    gateway, worker = queues
    await gateway.put(queued_call("c1", "echo", body=b"x"))
    delivery = await _one(worker)
    assert worker._out.held[delivery.token].lock is None  # unmarked: no lock taken
    with pytest.raises(Conflict, match="running"):
        await gateway.cancel("c1")
    await worker.mark_running(delivery)
    await worker.ack(delivery, Outcome(status_code=200, finished_at=time.time()))
    record = await gateway.record("c1")
    assert record is not None
    assert record.state is CallState.SUCCEEDED


async def test_a_marked_call_takes_its_run_lock_and_runs_if_the_cancel_gave_way(
    queues: tuple[NatsQueue, NatsQueue],
) -> None:
    gateway, worker = queues
    await gateway.put(queued_call("c1", "echo", body=b"x"))
    await gateway.marks().mark("c1")  # a cancel's mark, its look yet to come
    delivery = await _one(worker)
    assert worker._out.held[delivery.token].lock is not None
    await worker.mark_running(delivery)  # the lock is the worker's
    with pytest.raises(Conflict):
        await gateway.cancel("c1")
    await worker.ack(delivery, Outcome(status_code=200))
    record = await gateway.record("c1")
    assert record is not None
    assert record.state is CallState.SUCCEEDED


async def test_a_marked_call_whose_cancel_took_the_lock_is_never_run(
    queues: tuple[NatsQueue, NatsQueue],
) -> None:
    gateway, worker = queues
    await gateway.put(queued_call("c1", "echo", body=b"x"))
    # The cancel marked it and found it not delivered: it holds the lock.
    await gateway.marks().mark("c1")
    _, _, _, _, locks = gateway.parts()
    assert await locks.swap("c1", CANCELLED, 0)
    delivery = await _one(worker)
    with pytest.raises(NotFound):
        await worker.mark_running(delivery)
    assert await worker.claim(limit=1, lease=10, wait=0.5) == []  # dropped for good


async def test_a_cancel_before_any_claim_cancels_and_no_claim_gets_the_call(
    queues: tuple[NatsQueue, NatsQueue],
) -> None:
    gateway, worker = queues
    await gateway.put(queued_call("early", "echo", body=b"x"))
    await gateway.put(queued_call("c1", "echo", body=b"x"))
    early = await _one(worker)  # the lane's consumer exists and delivered one before c1
    assert early.call.call_id == "early"
    assert (await gateway.cancel("c1")).state is CallState.CANCELLED
    assert await worker.claim(limit=5, lease=10, wait=0.5) == []
    stats = await gateway.stats()
    assert (stats.queued, stats.running) == (0, 1)


async def _forget_ids(queue: NatsQueue) -> None:
    """Shrink the calls stream's Nats-Msg-Id window and outlast it: no id is remembered."""
    js = queue.parts()[0]
    config = (await js.stream_info(queue.names.stream)).config
    config.duplicate_window = 0.2
    await js.update_stream(config)
    await asyncio.sleep(0.5)


async def _messages(queue: NatsQueue) -> int:
    return (await queue.parts()[0].stream_info(queue.names.stream)).state.messages


async def test_a_put_stores_no_sequence_and_a_cancel_finds_the_message_by_its_id(
    queues: tuple[NatsQueue, NatsQueue],
) -> None:
    gateway, _ = queues
    await gateway.put(queued_call("c1", "echo", body=b"x"))
    stored = await gateway.read("c1")
    assert stored is not None
    assert stored[1].seq == 0  # the create went out with the publish: no sequence yet
    assert await stored_seq(gateway, "c1") > 0
    assert await stored_seq(gateway, "never-put") == 0
    assert await _messages(gateway) == 1  # the asking stored nothing
    assert (await gateway.cancel("c1")).state is CallState.CANCELLED
    assert await _messages(gateway) == 0  # the cancelled call's message is gone


async def test_a_call_queued_past_the_id_window_is_found_among_the_undelivered(
    queues: tuple[NatsQueue, NatsQueue],
) -> None:
    gateway, worker = queues
    for call_id in ("early", "c1", "c2", "later"):
        await gateway.put(queued_call(call_id, "echo", body=b"x"))
    early = await _one(worker)  # delivered: no longer among the undelivered
    assert early.call.call_id == "early"
    await _forget_ids(gateway)
    assert await stored_seq(gateway, "c2") == 0
    lane = gateway.names.lane("calls", "openfaas-fn", "echo")
    assert await undelivered_seq(gateway, "early", lane) == 0
    assert await undelivered_seq(gateway, "c2", lane) > 0
    assert (await gateway.cancel("c2")).state is CallState.CANCELLED
    assert await _messages(gateway) == 3  # early (leased), c1, later
    got = await worker.claim(limit=5, lease=10, wait=0.5)
    assert [d.call.call_id for d in got] == ["c1", "later"]
    with pytest.raises(Conflict, match="running"):
        await gateway.cancel("c1")  # a worker has it, found by no look at the undelivered


async def test_a_record_left_without_its_message_runs_when_its_id_is_sent_again(
    queues: tuple[NatsQueue, NatsQueue],
) -> None:
    """A put whose publish failed and whose record's take-back failed too left a
    queued record and no message: sent again past the id window, the call runs."""
    gateway, worker = queues
    first = queued_call("c1", "echo", body=b"x")
    await gateway.put(first)
    js = gateway.parts()[0]
    await js.delete_msg(gateway.names.stream, await stored_seq(gateway, "c1"))
    assert await _messages(gateway) == 0  # the record alone is left
    await _forget_ids(gateway)
    again = queued_call("c1", "echo", body=b"x")
    again.submitted_at = first.submitted_at + 1.0
    assert await gateway.put(again) is False  # the id was stored before: its first call
    got = await worker.claim(limit=5, lease=10, wait=2)
    assert [d.call.call_id for d in got] == ["c1"]


async def test_a_record_with_its_message_queued_keeps_one_message_when_sent_again(
    queues: tuple[NatsQueue, NatsQueue],
) -> None:
    gateway, worker = queues
    first = queued_call("c1", "echo", body=b"x")
    await gateway.put(first)
    await _forget_ids(gateway)
    again = queued_call("c1", "echo", body=b"x")
    again.submitted_at = first.submitted_at + 1.0
    assert await gateway.put(again) is False
    assert await _messages(gateway) == 1
    got = await worker.claim(limit=5, lease=10, wait=1)
    assert [d.call.call_id for d in got] == ["c1"]
