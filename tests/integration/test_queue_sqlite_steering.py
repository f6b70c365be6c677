"""The SQLite queue's steering on a real file: an older file migrated, a restart, 100k calls.

The steering contract itself runs on SQLite in ``tests/contract/test_queue_steering``;
these are what only a file can show: a ``queue.db`` made before steering is
opened and brought up to date with its calls intact, delayed and cancelled
calls keep their promise across a restart, a cancel raced by a claim from
another process is one or the other, and the counts stay cheap at 100k.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from pathlib import Path

import pytest

from pyfaas.errors import Conflict
from pyfaas.queue import CallState, DeadLetterFilter, Outcome, QueuedCall
from pyfaas.queue._records import BURIED, CALLBACKS, UNDECODABLE
from pyfaas.queue.backends import _sqlite_steer as steer
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.backends.sqlite import SqliteQueue
from pyfaas.queue.envelope import Answer, callback_id
from tests.factories import queued_call

pytestmark = pytest.mark.integration

# The schema before steering (git show 5805c48:pyfaas/queue/backends/_sqlite_store.py),
# copied as it was: the migration must take a file made by it.
_OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    function TEXT NOT NULL,
    namespace TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    submitted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    status_code INTEGER,
    error TEXT,
    callback_url TEXT,
    callback_status INTEGER,
    callback_attempts INTEGER NOT NULL DEFAULT 0,
    dead_at REAL
);
CREATE INDEX IF NOT EXISTS calls_dead ON calls (dead_at) WHERE dead_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY,
    call INTEGER NOT NULL,
    due REAL NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    token TEXT
);
CREATE INDEX IF NOT EXISTS queue_due ON queue (due);
"""
_OLD_INSERT = (
    "INSERT INTO calls (call_id, payload, function, namespace, state, submitted_at,"
    " callback_url, attempts, finished_at, status_code, error, dead_at)"
    " VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?) RETURNING id"
)


def _old_file(path: Path) -> None:
    """A queue.db as the version before steering left it: queued, done and dead calls."""
    now = time.time()
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SCHEMA)

        def add(call: QueuedCall, state: str, **done: object) -> int:
            row = conn.execute(
                _OLD_INSERT,
                (
                    call.call_id,
                    call.encode(),
                    call.function,
                    call.namespace,
                    state,
                    call.submitted_at,
                    done.get("attempts", 0),
                    done.get("finished_at"),
                    done.get("status_code"),
                    done.get("error"),
                    done.get("dead_at"),
                ),
            ).fetchone()
            return int(row[0])

        for name in ("old-1", "old-2"):
            found = add(queued_call(name, "figlet", submitted_at=now - 60), "queued")
            conn.execute("INSERT INTO queue (call, due) VALUES (?, ?)", (found, now - 60))
        answer = Answer("old-0", 200, 0.1, "1")
        callback = queued_call(callback_id("old-0"), "figlet", answer=answer, submitted_at=now)
        found = add(callback, "queued")
        conn.execute("INSERT INTO queue (call, due) VALUES (?, ?)", (found, now - 30))
        add(queued_call("old-0", "figlet"), "succeeded", attempts=1, finished_at=now - 20)
        add(
            queued_call("old-dead", "env"),
            "dead",
            attempts=3,
            finished_at=now - 10,
            status_code=500,
            dead_at=now - 10,
        )
        conn.execute(
            "INSERT INTO calls (call_id, payload, function, namespace, state, submitted_at,"
            " error, finished_at, dead_at) VALUES ('junk', x'00', '', '', 'dead', 0, ?, ?, ?)",
            (UNDECODABLE, now - 5, now - 5),
        )


async def _open(path: Path) -> SqliteQueue:
    queue = SqliteQueue(str(path))
    await queue.start()
    return queue


async def test_a_queue_db_made_before_steering_is_migrated_in_place_with_its_calls(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.db"
    _old_file(path)
    queue = await _open(path)
    try:
        with sqlite3.connect(path) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
            assert {"lane", "fingerprint", "not_before", "expire_at", "reason"} <= columns
            queue_columns = {row[1] for row in conn.execute("PRAGMA table_info(queue)")}
            assert {"lane", "parked"} <= queue_columns
        stats = await queue.stats()
        assert (stats.queued, stats.running, stats.dead) == (3, 0, 2)
        by_function = {f.function: f for f in stats.functions}
        assert by_function["figlet.openfaas-fn"].queued == 2
        assert by_function["figlet.openfaas-fn"].oldest_age >= 50
        assert by_function[CALLBACKS].queued == 1
        assert by_function["env.openfaas-fn"].dead == 1
        # Old dead letters are given the reason they would have today.
        reasons = {r.call_id: r.reason for r in await queue.dead_letters()}
        assert reasons == {"old-dead": BURIED, "junk": UNDECODABLE}
        assert len(await queue.dead_letters(where=DeadLetterFilter(reason=BURIED))) == 1
        done = await queue.record("old-0")
        assert done is not None
        assert done.state is CallState.SUCCEEDED
        assert done.history == []
        # A call stored without a fingerprint matches any resubmission of its id.
        again = queued_call("old-1", "figlet", fingerprint="f" * 32)
        assert await queue.put(again) is False
        # The old rows are claimed in turn: the callbacks are a lane of their own.
        claimed = await queue.claim(limit=2, lease=30, wait=1)
        assert {d.call.call_id for d in claimed} == {"old-1", callback_id("old-0")}
        await queue.ack(claimed[0], Outcome(status_code=200))
        record = await queue.record(claimed[0].call.call_id)
        assert record is not None
        assert [a.attempt for a in record.history] == [1]
        assert await queue.put(queued_call("new", "figlet", fingerprint="a" * 32)) is True
        assert await queue.replay_where(DeadLetterFilter(function="env.openfaas-fn")) == 1
        stats = await queue.stats()
        assert (stats.queued, stats.running, stats.dead) == (3, 1, 1)
    finally:
        await queue.close()
    # Opened again, there is nothing left to migrate and the counts stand.
    queue = await _open(path)
    try:
        stats = await queue.stats()
        assert (stats.queued, stats.running, stats.dead) == (3, 1, 1)
    finally:
        await queue.close()


async def test_delayed_and_cancelled_calls_keep_their_promise_across_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.db"
    due = time.time() + 1.5
    queue = await _open(path)
    try:
        await queue.put(queued_call("later", not_before=due))
        await queue.put(queued_call("later-cancelled", not_before=due))
        await queue.put(queued_call("now-cancelled"))
        assert (await queue.cancel("later-cancelled")).state is CallState.CANCELLED
        assert (await queue.cancel("now-cancelled")).state is CallState.CANCELLED
    finally:
        await queue.close()
    with sqlite3.connect(path) as conn:  # the cancelled calls left the queue itself
        assert conn.execute("SELECT count(*) FROM queue").fetchone() == (1,)
    queue = await _open(path)
    try:
        record = await queue.record("later")
        assert record is not None
        assert record.state is CallState.DELAYED
        assert record.not_before == due
        assert (await queue.stats()).delayed == 1
        assert await queue.claim(limit=10, lease=30, wait=0.2) == []
        claimed = await queue.claim(limit=10, lease=30, wait=10)
        assert time.time() >= due
        assert [d.call.call_id for d in claimed] == ["later"]
        assert await queue.claim(limit=10, lease=30, wait=0.3) == []
        for call_id in ("later-cancelled", "now-cancelled"):
            cancelled = await queue.record(call_id)
            assert cancelled is not None
            assert cancelled.state is CallState.CANCELLED
        with pytest.raises(Conflict, match="running"):
            await queue.cancel("later")
        stats = await queue.stats()
        assert (stats.queued, stats.delayed, stats.running) == (0, 0, 1)
    finally:
        await queue.close()


async def test_a_cancel_raced_by_a_claim_in_another_process_is_one_or_the_other(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.db"
    claimer, canceller = await _open(path), await _open(path)  # a writer process each
    try:
        ids = [f"race-{n}" for n in range(300)]
        for n in range(0, len(ids), 50):
            await asyncio.gather(*(claimer.put(queued_call(i)) for i in ids[n : n + 50]))

        async def claim_all() -> set[str]:
            got: set[str] = set()
            while batch := await claimer.claim(limit=7, lease=60, wait=0.3):
                got |= {d.call.call_id for d in batch}
            return got

        async def cancel_one(call_id: str) -> str | None:
            try:
                await canceller.cancel(call_id)
            except Conflict:
                return None
            return call_id

        claimed, *answers = await asyncio.gather(claim_all(), *map(cancel_one, reversed(ids)))
        cancelled = {a for a in answers if a is not None}
        assert claimed.isdisjoint(cancelled)
        assert claimed | cancelled == set(ids)
        for call_id in cancelled:
            record = await claimer.record(call_id)
            assert record is not None
            assert record.state is CallState.CANCELLED
    finally:
        await claimer.close()
        await canceller.close()


async def test_a_prune_removes_more_calls_than_one_batch_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.db"
    queue = await _open(path)
    try:
        total = steer.PRUNE_BATCH + 300
        for n in range(0, total, 100):
            await asyncio.gather(*(queue.put(queued_call(f"p{n + k}")) for k in range(100)))
        while batch := await queue.claim(limit=100, lease=60, wait=0.2):
            await asyncio.gather(*(queue.ack(d, Outcome(status_code=200)) for d in batch))
        await queue.put(queued_call("waiting"))
        assert await queue.prune(time.time() + 1) == total
        assert await queue.record("p0") is None
        assert await queue.record("waiting") is not None
        assert await queue.put(queued_call("p0")) is True  # a pruned id may be used again
    finally:
        await queue.close()


def _fill(path: Path, queued: int, delayed: int, functions: int) -> None:
    """Store calls straight through the store's SQL: 100k puts through the writer take long."""
    conn = store.connect(str(path), 10.0)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN IMMEDIATE")
        now = time.time()
        rows = [
            store.row(queued_call(f"q{n}", f"fn{n % functions}", submitted_at=now))
            for n in range(queued)
        ]
        rows += [
            store.row(queued_call(f"d{n}", "fn0", submitted_at=now, not_before=now + 3600))
            for n in range(delayed)
        ]
        tally = store.Tally()
        for n in range(0, len(rows), 500):
            store.put_rows(conn, rows[n : n + 500], tally)
        tally.write(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_counts_and_claims_stay_cheap_with_a_hundred_thousand_calls_queued(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.db"
    _fill(path, queued=100_000, delayed=5_000, functions=5)
    queue = await _open(path)
    try:
        took = []
        for _ in range(5):
            started = time.perf_counter()
            stats = await queue.stats()
            took.append(time.perf_counter() - started)
        assert (stats.queued, stats.delayed) == (100_000, 5_000)
        assert {f.function: f.queued for f in stats.functions} == {
            f"fn{n}.openfaas-fn": 20_000 for n in range(5)
        }
        # A sanity bound on a loaded machine, not a measurement: counting the
        # rows instead would take some 10 ms at 100k on an idle one.
        assert statistics.median(took) < 0.5
        started = time.perf_counter()
        claimed = await queue.claim(limit=10, lease=60, wait=1)
        assert time.perf_counter() - started < 2.0
        assert sorted(d.call.function for d in claimed) == sorted([f"fn{n}" for n in range(5)] * 2)
        assert (await queue.stats()).running == 10
    finally:
        await queue.close()
