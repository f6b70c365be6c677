"""What the NATS queue keeps for the long run stays bounded, against nats-server.

Per-function counts are running sums in the tally stream: settles by several
processes at once count every call once, the stream holds one message per
function and count however many calls settle, and the empty messages of
streams made before the sums still count. A lane's consumer idle for long
is removed by JetStream and made again when its function has calls again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import nats
import nats.js.errors
import pytest
from nats.js import api

from pyfaas.queue import Outcome
from pyfaas.queue.backends.nats import NatsQueue
from pyfaas.queue.envelope import Delivery
from tests.factories import queued_call
from tests.helpers import NatsServer

pytestmark = [pytest.mark.integration, pytest.mark.nats]


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def workers(nats_server: NatsServer, namespace: str) -> AsyncIterator[list[NatsQueue]]:
    """Two workers' handles on one queue, each its own connection."""
    handles = [NatsQueue(nats_server.url, namespace=namespace) for _ in range(2)]
    await asyncio.gather(*(h.start() for h in handles))
    yield handles
    await asyncio.gather(*(h.close() for h in handles))


async def _claim_all(queue: NatsQueue, wanted: int) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + 10
    while len(got) < wanted and time.monotonic() < deadline:
        got += await queue.claim(limit=wanted - len(got), lease=30, wait=0.2)
    return got


def _processed(stats_functions: tuple[object, ...], function: str) -> int:
    found = [f for f in stats_functions if getattr(f, "function", None) == function]
    return int(getattr(found[0], "processed", 0)) if found else 0


async def _settle(queue: NatsQueue, deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        await queue.mark_running(delivery)
    now = time.time()
    outcome = Outcome(200, None, None, 0, now, now)
    await asyncio.gather(*(queue.ack(d, outcome) for d in deliveries))


async def test_two_workers_settling_at_once_count_every_call_once_in_one_message(
    workers: list[NatsQueue], nats_server: NatsServer
) -> None:
    first, second = workers
    for i in range(40):
        await first.put(queued_call(f"c{i}", "echo", body=b"x"))
    mine = await _claim_all(first, 20)
    theirs = await _claim_all(second, 20)
    assert len(mine) == len(theirs) == 20
    # Both add to the same sum at the same moment: one of them reads it again.
    await asyncio.gather(_settle(first, mine), _settle(second, theirs))
    stats = await first.stats()
    assert _processed(stats.functions, "echo.openfaas-fn") == 40
    nc = await nats.connect(nats_server.url)
    try:
        info = await nc.jetstream().stream_info(first.names.tally_stream)
        assert info.state.messages == 1  # one sum, rolled up, not one message a call
    finally:
        await nc.close()


async def test_counts_from_before_the_sums_are_added_to_them(
    nats_server: NatsServer, namespace: str
) -> None:
    queue = NatsQueue(nats_server.url, namespace=namespace)
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        # The tally stream as it was made before the sums: no rollups, empty messages.
        stream = f"PYFAAS_TALLY_{namespace.upper()}"
        base = f"pyfaas.{namespace}.tally"
        await js.add_stream(name=stream, subjects=[f"{base}.>"], storage=api.StorageType.FILE)
        for _ in range(3):
            await js.publish(f"{base}.processed.openfaas-fn.echo", b"")
        await queue.start()
        info = await js.stream_info(stream)
        assert info.config.allow_rollup_hdrs  # taken on when the queue started
        await queue.put(queued_call("new", "echo", body=b"x"))
        await _settle(queue, await _claim_all(queue, 1))
        stats = await queue.stats()
        assert _processed(stats.functions, "echo.openfaas-fn") == 4
    finally:
        await queue.close()
        await nc.close()


async def test_an_idle_lanes_consumer_is_removed_and_made_again_for_its_next_call(
    nats_server: NatsServer, namespace: str
) -> None:
    queue = NatsQueue(nats_server.url, namespace=namespace, consumer_idle=1.0)
    nc = await nats.connect(nats_server.url)
    try:
        await queue.start()
        js = nc.jetstream()
        await queue.put(queued_call("first", "echo", body=b"x"))
        await _settle(queue, await _claim_all(queue, 1))
        subject = queue.names.lane("calls", "openfaas-fn", "echo")
        consumer = queue.names.consumer_for(subject)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # JetStream looks every second or so
            try:
                await js.consumer_info(queue.names.stream, consumer)
            except nats.js.errors.NotFoundError:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the idle consumer was never removed")
        await queue.put(queued_call("second", "echo", body=b"x"))
        [delivery] = await _claim_all(queue, 1)
        assert delivery.call.call_id == "second"
        await _settle(queue, [delivery])
        stats = await queue.stats()
        assert _processed(stats.functions, "echo.openfaas-fn") == 2
    finally:
        await queue.close()
        await nc.close()


async def test_settles_a_millisecond_apart_share_their_counts_publishes(
    workers: list[NatsQueue], nats_server: NatsServer
) -> None:
    queue = workers[0]
    for i in range(30):
        await queue.put(queued_call(f"c{i}", "echo", body=b"x"))
    deliveries = await _claim_all(queue, 30)
    assert len(deliveries) == 30
    now = time.time()
    outcome = Outcome(200, None, None, 0, now, now)
    settles = []
    for delivery in deliveries:  # as a worker with max_inflight=1 settles short calls
        await queue.mark_running(delivery)
        settles.append(asyncio.create_task(queue.ack(delivery, outcome)))
        await asyncio.sleep(0.001)
    await asyncio.gather(*settles)
    stats = await queue.stats()
    assert _processed(stats.functions, "echo.openfaas-fn") == 30
    nc = await nats.connect(nats_server.url)
    try:
        info = await nc.jetstream().stream_info(queue.names.tally_stream)
        # One publish a group of settles, a group at most every 20 ms: a few, not 30.
        assert info.state.last_seq <= 10, info.state
    finally:
        await nc.close()
