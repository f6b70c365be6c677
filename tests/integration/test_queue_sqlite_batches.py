"""Group commit in the SQLite queue: writes share transactions but not failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pyfaas.errors import NotFound
from pyfaas.queue import CallState, Outcome, QueuedCall
from pyfaas.queue.backends.sqlite import START_NOTED_AFTER, SqliteQueue
from tests.factories import queued_call

pytestmark = pytest.mark.integration


def _call(call_id: str) -> QueuedCall:
    return queued_call(call_id, body=b"x")


async def _open(path: Path) -> SqliteQueue:
    queue = SqliteQueue(str(path))
    await queue.start()
    return queue


async def test_a_lost_lease_in_a_batch_fails_alone(tmp_path: Path) -> None:
    queue = await _open(tmp_path / "q.db")
    try:
        await asyncio.gather(*(queue.put(_call(f"c{i}")) for i in range(20)))
        deliveries = await queue.claim(limit=20, lease=30, wait=1)
        assert len(deliveries) == 20
        await queue.ack(deliveries[0], Outcome(status_code=200))
        # Settled concurrently: the repeat of c0 is lost, the others must land.
        results = await asyncio.gather(
            *(queue.ack(d, Outcome(status_code=200)) for d in deliveries),
            return_exceptions=True,
        )
        assert isinstance(results[0], NotFound)
        assert results[1:] == [None] * 19
        stats = await queue.stats()
        assert (stats.queued, stats.running) == (0, 0)
        record = await queue.record("c7")
        assert record is not None
        assert record.state is CallState.SUCCEEDED
    finally:
        await queue.close()


@pytest.mark.parametrize("waited", [True, False], ids=["waited-for-a-slot", "started-at-once"])
async def test_mark_running_rides_along_and_survives_close(tmp_path: Path, waited: bool) -> None:
    path = tmp_path / "q.db"
    queue = await _open(path)
    await queue.put(_call("c1"))
    [delivery] = await queue.claim(limit=1, lease=30, wait=1)
    claimed = await queue.record("c1")
    assert claimed is not None
    assert claimed.started_at is not None
    if waited:
        await asyncio.sleep(START_NOTED_AFTER + 0.01)
    await queue.mark_running(delivery)
    await queue.close()  # a held write is committed on the way out

    reopened = await _open(path)
    try:
        record = await reopened.record("c1")
        assert record is not None
        assert record.state is CallState.RUNNING
        assert record.started_at is not None
        if waited:
            assert record.started_at > claimed.started_at
        else:  # no write: the claim's time stands
            assert record.started_at == claimed.started_at
    finally:
        await reopened.close()


async def test_mark_running_after_the_lease_moved_on_changes_nothing(tmp_path: Path) -> None:
    queue = await _open(tmp_path / "q.db")
    try:
        await queue.put(_call("c1"))
        [delivery] = await queue.claim(limit=1, lease=30, wait=1)
        await queue.ack(delivery, Outcome(status_code=200))
        await asyncio.sleep(START_NOTED_AFTER + 0.01)
        await queue.mark_running(delivery)
        await queue.put(_call("c2"))
        assert await queue.claim(limit=1, lease=30, wait=1)  # the held write rides with it
        record = await queue.record("c1")
        assert record is not None
        assert record.state is CallState.SUCCEEDED
    finally:
        await queue.close()


async def test_concurrent_puts_keep_order_and_store_each_id_once(tmp_path: Path) -> None:
    queue = await _open(tmp_path / "q.db")
    try:
        await queue.put(_call("old"))
        ids = ["old", *(f"c{i}" for i in range(30)), "c3", "c5"]
        # Submitted together, so they share batches: duplicates of an id
        # already stored, and of one in the same batch, are refused.
        stored = await asyncio.gather(*(queue.put(_call(i)) for i in ids))
        assert stored == [False, *[True] * 30, False, False]
        deliveries = await queue.claim(limit=100, lease=30, wait=1)
        assert [d.call.call_id for d in deliveries] == ["old", *(f"c{i}" for i in range(30))]
        assert (await queue.stats()).running == 31
    finally:
        await queue.close()
