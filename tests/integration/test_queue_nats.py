"""The NATS queue against real nats-servers: concurrent starts, outages, open_queue, requests.

Also what a stray message on the calls subject becomes. Submissions through
the gateway while the server stops are in ``test_queue_nats_outage``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from pyfaas.errors import QueueUnavailable
from pyfaas.queue import CallState, Outcome, QueuedCall, open_queue
from pyfaas.queue._records import UNDECODABLE
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.backends.nats import START_NOTED_AFTER as NATS_START_NOTED_AFTER
from pyfaas.queue.backends.nats import NatsQueue
from tests.factories import queued_call
from tests.helpers import NatsServer, refused_port

pytestmark = [pytest.mark.integration, pytest.mark.nats]


def _call(call_id: str) -> QueuedCall:
    return queued_call(call_id, body=b"hi")


async def test_unreachable_server_raises_queue_unavailable() -> None:
    with refused_port() as sock:
        queue = NatsQueue(f"nats://127.0.0.1:{sock.getsockname()[1]}", timeout=1)
        with pytest.raises(QueueUnavailable, match="nats queue"):
            await queue.start()
        with pytest.raises(QueueUnavailable):
            await queue.put(_call("c1"))


async def test_put_during_an_outage_raises_queue_unavailable(tmp_path: Path) -> None:
    server = NatsServer(tmp_path).start()
    queue = NatsQueue(server.url, timeout=1)
    try:
        await queue.start()
        assert await queue.put(_call("before")) is True
        server.stop()
        with pytest.raises(QueueUnavailable):
            await queue.put(_call("during"))
    finally:
        await queue.close()
        server.stop()


async def test_concurrent_starts_share_one_stream(nats_server: NatsServer) -> None:
    namespace = f"s{uuid.uuid4().hex[:8]}"
    queues = [NatsQueue(nats_server.url, namespace=namespace) for _ in range(4)]
    await asyncio.gather(*(queue.start() for queue in queues))
    try:
        assert await queues[0].put(_call("c1")) is True
        assert await queues[1].put(_call("c1")) is False
        [delivery] = await queues[2].claim(limit=5, lease=5, wait=2)
        await queues[2].ack(delivery, Outcome(status_code=200))
        record = await queues[3].record("c1")
        assert record is not None
        assert record.state.value == "succeeded"
    finally:
        await asyncio.gather(*(queue.close() for queue in queues))


async def test_open_queue_gives_the_default_names(nats_server: NatsServer) -> None:
    queue = open_queue(nats_server.url)
    assert isinstance(queue, NatsQueue)
    assert (queue.names.stream, queue.names.consumer) == ("PYFAAS_CALLS", "pyfaas-worker")
    assert queue.names.bucket == "pyfaas_calls"


@pytest.fixture
async def own_queue(nats_server: NatsServer) -> AsyncIterator[NatsQueue]:
    """A started queue in a namespace of its own, closed after the test."""
    queue = NatsQueue(nats_server.url, namespace=f"t{uuid.uuid4().hex[:8]}")
    await queue.start()
    yield queue
    await queue.close()


@pytest.fixture
async def client(nats_server: NatsServer) -> AsyncIterator[Client]:
    """A plain nats-py connection, to look at or act on the server beside the queue."""
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.close()


async def test_odd_call_ids_are_kept_apart(own_queue: NatsQueue) -> None:
    queue = own_queue
    odd = ["a b", "a.b", "a*b", "ünï"]
    for call_id in odd:
        assert await queue.put(_call(call_id)) is True
    deliveries = await queue.claim(limit=10, lease=5, wait=2)
    assert sorted(d.call.call_id for d in deliveries) == sorted(odd)
    for delivery in deliveries:
        await queue.bury(delivery, Outcome(error="no"))
    await queue.replay("a.b")
    assert {r.call_id for r in await queue.dead_letters()} == {"a b", "a*b", "ünï"}


async def test_a_resubmission_after_the_dedupe_window_is_refused_by_its_record(
    own_queue: NatsQueue, client: Client
) -> None:
    # The stream's Nats-Msg-Id window is two minutes (shrunk here); past it,
    # the record's create is what refuses the call, and the message just
    # published goes: the first call's message is still queued.
    queue = own_queue
    earlier = queued_call("old", body=b"hi", submitted_at=1.0)
    assert await queue.put(earlier) is True
    js = client.jetstream()
    config = (await js.stream_info(queue.names.stream)).config
    config.duplicate_window = 0.2
    await js.update_stream(config)
    await asyncio.sleep(0.5)
    again = queued_call("old", body=b"again", submitted_at=2.0)
    assert await queue.put(again) is False
    got = await queue.claim(limit=5, lease=5, wait=0.5)
    assert [d.call.body for d in got] == [b"hi"]
    record = await queue.record("old")
    assert record is not None
    assert record.submitted_at == earlier.submitted_at


async def test_publisher_answers_acks_refusals_and_silence(
    own_queue: NatsQueue, client: Client
) -> None:
    names = own_queue.names  # the queue declared the stream
    publisher = Publisher(client, timeout=0.5)
    await publisher.start()
    ack = await publisher.publish(names.subject, b"x", {"Nats-Msg-Id": "m1"})
    assert (ack["stream"], ack.get("duplicate", False)) == (names.stream, False)
    again = await publisher.publish(names.subject, b"x", {"Nats-Msg-Id": "m1"})
    assert (again["seq"], again["duplicate"]) == (ack["seq"], True)
    with pytest.raises(nats.js.errors.NoStreamResponseError):
        await publisher.publish(f"nobody.{names.consumer}", b"x")

    async def silent(msg: Msg) -> None:
        pass

    await client.subscribe(f"silent.{names.consumer}", cb=silent)
    with pytest.raises(nats.errors.TimeoutError):
        await publisher.request(f"silent.{names.consumer}", b"x")
    assert publisher._waiting == {}  # nothing left behind by the time-out


async def test_a_running_record_is_written_only_for_a_call_still_running(
    own_queue: NatsQueue, client: Client
) -> None:
    queue = own_queue
    written: list[tuple[str, str]] = []  # (key, state): the message shows both when it fails

    async def seen(msg: Msg) -> None:
        written.append((msg.subject.rpartition(".")[2], records.decode(msg.data).state.value))

    await client.subscribe(f"$KV.{queue.names.bucket}.>", cb=seen)
    await client.flush()
    for call_id in ("short", "long"):
        await queue.put(_call(call_id))
    short, long = await queue.claim(limit=2, lease=5, wait=2)
    await queue.mark_running(short)
    await queue.mark_running(long)
    await queue.ack(short, Outcome(status_code=200))
    await asyncio.sleep(NATS_START_NOTED_AFTER * 3)
    await queue.ack(long, Outcome(status_code=200))
    await client.flush()
    await asyncio.sleep(0.1)
    # What the bucket kept proves it: five writes in all, the short call's last
    # the third (queued, then succeeded) and the long one's the fifth, so the
    # fourth is the long call's running record. The messages a plain subscriber
    # saw only explain a failure: under load it was seen to miss the first.
    js = client.jetstream()
    kv = await js.key_value(queue.names.bucket)
    revisions = [(await kv.get(records.key_for(c))).revision for c in ("short", "long")]
    writes = (await js.stream_info(f"KV_{queue.names.bucket}")).state.last_seq
    assert (*revisions, writes) == (3, 5, 5), f"records seen: {written}"
    final = records.decode((await kv.get(records.key_for("long"))).value or b"")
    assert final.state.value == "succeeded"


async def test_a_waiting_claim_returns_as_soon_as_a_call_arrives(own_queue: NatsQueue) -> None:
    queue = own_queue
    waiting = asyncio.create_task(queue.claim(limit=10, lease=5, wait=20))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = time.monotonic()
    await queue.put(_call("soon"))
    [delivery] = await asyncio.wait_for(waiting, timeout=10)
    assert delivery.call.call_id == "soon"
    assert time.monotonic() - started < 5  # not held until the request expires
    assert await queue.claim(limit=10, lease=5, wait=0.3) == []


async def test_calls_delivered_to_a_cancelled_claim_go_to_the_next(own_queue: NatsQueue) -> None:
    queue = own_queue
    waiting = asyncio.create_task(queue.claim(limit=10, lease=30, wait=20))
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    # The server still holds the cancelled claim's request for one call.
    await queue.put(_call("late"))
    await asyncio.sleep(0.3)
    [delivery] = await queue.claim(limit=10, lease=30, wait=2)
    assert (delivery.call.call_id, delivery.attempt) == ("late", 1)
    await queue.ack(delivery, Outcome(status_code=200))


async def test_a_stray_message_is_set_aside_under_its_own_id_or_its_sequence(
    own_queue: NatsQueue, client: Client
) -> None:
    queue = own_queue
    js = client.jetstream()
    assert await queue.put(_call("real"))  # stream sequence 1
    await js.publish(queue.names.subject, b"not a call", headers={"Nats-Msg-Id": "stray"})
    await js.publish(queue.names.subject, b'{"id": "real"}')  # 3: names a call that exists
    assert await queue.put(_call("next"))
    deliveries = await queue.claim(limit=10, lease=5, wait=2)
    assert [d.call.call_id for d in deliveries] == ["real", "next"]
    dead = {r.call_id: r for r in await queue.dead_letters()}
    assert set(dead) == {"stray", "seq-3"}
    assert {r.error for r in dead.values()} == {UNDECODABLE}
    real = await queue.record("real")
    assert real is not None
    assert (real.state, real.error) == (CallState.QUEUED, None)  # untouched by the stray
    for delivery in deliveries:
        await queue.ack(delivery, Outcome(status_code=200))

    # Replayed, it is set aside again by the next claim, which goes on.
    await queue.replay("stray")
    assert await queue.claim(limit=10, lease=5, wait=0.3) == []
    assert {r.call_id for r in await queue.dead_letters()} == {"seq-3", "seq-5"}
    assert (await queue.stats()).queued == 0
