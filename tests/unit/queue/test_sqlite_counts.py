"""The SQLite queue's per-function counts against a recount of its rows.

``stats`` reads counts that every write keeps (``_sqlite_store.Tally``)
instead of counting rows; after any sequence of puts, claims, settles,
cancels, expiries, replays, purges and prunes they must equal what counting
the rows says.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from pathlib import Path

import pytest

from pyfaas.errors import Conflict, NotFound
from pyfaas.queue import DeadLetterFilter, Delivery, Outcome, QueueStats
from pyfaas.queue.backends.sqlite import SqliteQueue
from pyfaas.queue.envelope import Answer, callback_id
from tests.factories import queued_call

pytestmark = pytest.mark.integration  # a real file and the writer process

_RECOUNT = """
SELECT c.lane,
    sum(c.state IN ('queued', 'delayed') AND NOT (c.state = 'delayed' AND c.not_before > :now)),
    sum(c.state = 'delayed' AND c.not_before > :now),
    (SELECT count(*) FROM queue AS q WHERE q.lane = c.lane AND q.token IS NOT NULL),
    sum(c.state = 'retrying'),
    sum(c.dead_at IS NOT NULL)
FROM calls AS c WHERE c.lane != '' GROUP BY c.lane
"""


def _recount(path: Path) -> dict[str, tuple[int, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(_RECOUNT, {"now": time.time()}).fetchall()
    return {lane: tuple(counts) for lane, *counts in rows if any(counts)}


def _counted(stats: QueueStats) -> dict[str, tuple[int, ...]]:
    return {
        f.function: (f.queued, f.delayed, f.running, f.retrying, f.dead)
        for f in stats.functions
        if (f.queued, f.delayed, f.running, f.retrying, f.dead) != (0, 0, 0, 0, 0)
    }


class _Writes:
    """Random writes of every kind on one queue, as callers would make them."""

    def __init__(self, queue: SqliteQueue, rng: random.Random) -> None:
        self.queue, self.rng = queue, rng
        self.held: list[Delivery] = []
        self.ids: list[str] = []

    async def put(self, step: int) -> None:
        rng, now = self.rng, time.time()
        call_id = f"c{step}"
        fields: dict[str, object] = {}
        if rng.random() < 0.2:
            fields["not_before"] = now + rng.choice([-1, 60])
        if rng.random() < 0.15:
            fields["expire_at"] = now - 1
        if rng.random() < 0.2:
            call_id = callback_id(call_id)
            fields["answer"] = Answer(f"c{step}", 200, 0.1, "1")
        await self.queue.put(queued_call(call_id, rng.choice(["a", "b", "c"]), **fields))
        self.ids.append(call_id)

    async def claim(self, step: int) -> None:
        self.held += await self.queue.claim(limit=self.rng.randrange(1, 6), lease=60, wait=0)

    async def settle(self, step: int) -> None:
        if not self.held:
            return
        delivery = self.held.pop(self.rng.randrange(len(self.held)))
        how = self.rng.choice(["ack", "retry", "bury"])
        if how == "ack":
            await self.queue.ack(delivery, Outcome(status_code=200))
        elif how == "retry":
            await self.queue.retry(delivery, self.rng.choice([0.0, 60.0]), Outcome(status_code=503))
        else:
            await self.queue.bury(delivery, Outcome(status_code=500, reason="not retryable"))

    async def cancel(self, step: int) -> None:
        if self.ids:
            with contextlib.suppress(Conflict, NotFound):
                await self.queue.cancel(self.rng.choice(self.ids))

    async def dead(self, step: int) -> None:
        which = self.rng.choice(["replay", "purge", "prune"])
        if which == "replay":
            await self.queue.replay_where(DeadLetterFilter(function="a.openfaas-fn"))
        elif which == "purge":
            await self.queue.purge(DeadLetterFilter(function="b.openfaas-fn"))
        else:
            await self.queue.prune(time.time() + 1)


@pytest.mark.parametrize("seed", range(3))
async def test_the_counts_stay_those_of_the_rows_whatever_the_writes(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    path = tmp_path / "queue.db"
    queue = SqliteQueue(str(path))
    await queue.start()
    writes = _Writes(queue, rng)
    kinds = [writes.put, writes.put, writes.claim, writes.settle, writes.settle]
    kinds += [writes.cancel, writes.dead]
    try:
        for step in range(150):
            write = rng.choice(kinds)
            await write(step)
            stats = await queue.stats()
            assert _counted(stats) == _recount(path), (step, write.__name__)
            assert stats.queued == sum(f.queued for f in stats.functions)
    finally:
        await queue.close()


async def test_a_delayed_call_counts_as_queued_once_its_time_came_and_running_once_claimed(
    tmp_path: Path,
) -> None:
    queue = SqliteQueue(str(tmp_path / "queue.db"))
    await queue.start()
    try:
        # Far enough ahead that the put and the first look come before it on
        # a busy machine (at 0.3 s, once, they did not).
        due = time.time() + 1.0
        await queue.put(queued_call("later", not_before=due))
        stats = await queue.stats()
        assert (stats.queued, stats.delayed) == (0, 1)
        await asyncio.sleep(max(due - time.time(), 0) + 0.05)  # the clock, not a readiness
        stats = await queue.stats()  # no claim has unparked it yet
        assert (stats.queued, stats.delayed) == (1, 0)
        assert stats.functions[0].oldest_age >= 0.04
        [delivery] = await queue.claim(limit=5, lease=60, wait=1)
        await queue.retry(delivery, 60, Outcome(status_code=503))
        stats = await queue.stats()
        assert (stats.queued, stats.delayed, stats.running, stats.retrying) == (0, 0, 0, 1)
        assert _counted(stats) == _recount(tmp_path / "queue.db")
    finally:
        await queue.close()
