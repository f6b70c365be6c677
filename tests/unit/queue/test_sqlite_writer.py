"""The SQLite writer: writes made by a child process, honest errors when it cannot make them."""

from __future__ import annotations

import asyncio
import marshal
import os
import signal
import socket
import sqlite3
import struct
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyfaas.errors import NotFound, QueueUnavailable, QueueUncertain
from pyfaas.queue import Outcome, QueuedCall
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.backends._sqlite_commit import _describe
from pyfaas.queue.backends._sqlite_serve import CHECKPOINT_EVERY, _gather
from pyfaas.queue.backends._sqlite_writer import Writer
from pyfaas.queue.backends.sqlite import SqliteQueue
from tests.factories import full_call, queued_call
from tests.helpers import wait_for

# Each writer is a child process on a real SQLite file.
pytestmark = pytest.mark.integration


def _call(call_id: str) -> QueuedCall:
    return queued_call(call_id, body=b"x", submitted_at=1.0)


def _children() -> list[int]:
    """This process's writer children, by their command line."""
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            for pid in f.read().split():
                with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                    if b"_sqlite_writer" in cmd.read():
                        found.append(int(pid))
    return found


def _ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT call_id FROM calls ORDER BY id")]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "q.db"
    store.connect(str(path), 1.0).close()  # the schema, as the queue's own thread makes it
    return path


@pytest.fixture
async def writer(db: Path) -> AsyncIterator[Writer]:
    writer = Writer(str(db), busy_timeout=5.0)
    yield writer
    await writer.close()


async def test_puts_are_stored_in_order_and_a_known_id_once(writer: Writer, db: Path) -> None:
    results = await asyncio.gather(*(writer.put(_call(f"c{i}")) for i in range(20)))
    assert results == [True] * 20
    assert await writer.put(_call("c3")) is False
    assert _ids(db) == [f"c{i}" for i in range(20)]


async def test_a_database_error_fails_the_put_with_its_cause(db: Path) -> None:
    writer = Writer(str(db), busy_timeout=0.05)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(QueueUnavailable, match="database is locked"):
            await writer.put(_call("blocked"))
        holder.execute("ROLLBACK")
        assert await writer.put(_call("later")) is True
        assert _ids(db) == ["later"]
    finally:
        holder.close()
        await writer.close()


async def test_a_killed_writer_fails_its_waiting_puts_and_the_next_put_starts_another(
    writer: Writer, db: Path
) -> None:
    assert await writer.put(_call("first")) is True
    (child,) = _children()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the child now waits for the lock
        waiting = asyncio.create_task(writer.put(_call("in-flight")))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        os.kill(child, signal.SIGKILL)
        with pytest.raises(QueueUnavailable, match="writer process exited"):
            await asyncio.wait_for(waiting, 10)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert await writer.put(_call("after")) is True
    assert _children() != [child]
    assert _ids(db) == ["first", "after"]  # the unanswered call was never stored


async def test_puts_a_killed_writer_never_answered_name_their_calls_and_store_once(
    writer: Writer, db: Path
) -> None:
    assert await writer.put(_call("first")) is True
    (child,) = _children()
    os.kill(child, signal.SIGSTOP)  # the puts reach its socket, and no answer comes
    try:
        waiting = [asyncio.create_task(writer.put(_call(f"p{i}"))) for i in range(3)]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in waiting)
    finally:
        os.kill(child, signal.SIGKILL)
    for i, task in enumerate(waiting):
        with pytest.raises(QueueUncertain, match="may be stored") as caught:
            await asyncio.wait_for(task, 10)
        assert caught.value.call_id == f"p{i}"
    # Put again under their ids, as a caller told so would: each is stored once.
    assert [await writer.put(_call(f"p{i}")) for i in range(3)] == [True, True, True]
    assert await writer.put(_call("p0")) is False
    assert _ids(db) == ["first", "p0", "p1", "p2"]


async def test_an_opened_queue_has_its_writer_running_before_the_first_put(db: Path) -> None:
    queue = SqliteQueue(str(db))
    await queue.start()
    try:
        assert len(_children()) == 1
        assert await queue.put(_call("first")) is True
        assert len(_children()) == 1
    finally:
        await queue.close()
    assert _children() == []


async def test_close_ends_the_child(writer: Writer) -> None:
    assert await writer.put(_call("one")) is True
    assert len(_children()) == 1
    await writer.close()
    assert _children() == []


async def test_the_child_checkpoints_the_wal_into_the_database_file(
    writer: Writer, db: Path
) -> None:
    # The child turns SQLite's own checkpoint off (it would run inside a
    # commit, delaying answers) and checkpoints when its socket is idle.
    before = await asyncio.to_thread(os.path.getsize, db)
    for start in range(0, CHECKPOINT_EVERY + 200, 100):
        await asyncio.gather(*(writer.put(_call(f"c{start + i}")) for i in range(100)))
    grown = lambda: os.path.getsize(db) > before + 100 * 1024  # noqa: E731
    await asyncio.to_thread(wait_for, grown)


async def test_a_claim_hands_back_the_call_as_it_was_put(writer: Writer) -> None:
    call = full_call("full", "echo", headers=[("X-One", "1"), ("X-One", "2")])
    assert await writer.put(call) is True
    [delivery] = await writer.claim(5, lease=30)
    assert delivery.call == call
    assert delivery.attempt == 1
    assert delivery.claimed_at > 0


async def test_polling_an_empty_queue_takes_no_write_lock(db: Path) -> None:
    writer = Writer(str(db), busy_timeout=5.0)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        assert await writer.claim(1, lease=30) == []  # the child is up
        holder.execute("BEGIN IMMEDIATE")  # a put of another process, in progress
        # A claim that wanted the write lock would wait out the 5 s busy timeout.
        assert await asyncio.wait_for(writer.claim(1, lease=30), 2) == []
    finally:
        holder.close()
        await writer.close()


async def test_writes_sent_together_share_a_transaction_but_not_a_failure(
    writer: Writer, db: Path
) -> None:
    await asyncio.gather(*(writer.put(_call(f"c{i}")) for i in range(3)))
    first, second, third = await writer.claim(3, lease=30)
    await writer.settle(first, None, Outcome(status_code=200), None)
    results = await asyncio.gather(
        writer.settle(first, None, Outcome(status_code=200), None),  # settled already
        writer.settle(second, None, Outcome(status_code=500), None),
        writer.extend(third, 60),
        writer.put(_call("c9")),
        return_exceptions=True,
    )
    assert isinstance(results[0], NotFound)
    assert results[1:] == [None, None, True]
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT call_id, state FROM calls"))
    assert states == {"c0": "succeeded", "c1": "failed", "c2": "running", "c9": "queued"}


async def test_close_lets_the_child_answer_what_it_was_sent(db: Path) -> None:
    writer = Writer(str(db), busy_timeout=5.0)
    assert await writer.put(_call("first")) is True
    [delivery] = await writer.claim(1, lease=30)
    in_flight = [
        asyncio.create_task(writer.put(_call("last"))),
        asyncio.create_task(writer.settle(delivery, None, Outcome(status_code=200), None)),
    ]
    await asyncio.sleep(0)  # both are sent; the settle is still held for this turn
    await writer.close()
    assert await asyncio.gather(*in_flight) == [True, None]
    assert _children() == []
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT call_id, state FROM calls"))
    assert states == {"first": "succeeded", "last": "queued"}


def _frame(op: tuple[object, ...]) -> bytes:
    data = marshal.dumps(op)
    return struct.pack(">I", len(data)) + data


def test_a_small_durable_batch_waits_briefly_for_the_rest() -> None:
    here, there = socket.socketpair()
    with here, there:
        first = [("op", 1)]
        # Two more arrive while it waits: it takes them, up to the number wanted.
        late = threading.Timer(0.05, there.sendall, [_frame(("op", 2)) + _frame(("op", 3))])
        late.start()
        ops, rest, open_ = _gather(here, list(first), b"", want=3, linger=5.0)
        late.join()
        assert (ops, rest, open_) == ([("op", 1), ("op", 2), ("op", 3)], b"", True)
        # Nothing more comes: it gives up after the linger, with what it has.
        ops, _, open_ = _gather(here, list(first), b"", want=3, linger=0.05)
        assert (ops, open_) == (first, True)
        # The other end closes: it stops waiting and says so.
        there.shutdown(socket.SHUT_WR)
        ops, _, open_ = _gather(here, list(first), b"", want=3, linger=5.0)
        assert (ops, open_) == (first, False)


def test_a_full_database_is_described_as_full_storage() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (b BLOB)")
    conn.execute("PRAGMA max_page_count = 2")  # SQLite's own way to say the disk is full
    with pytest.raises(sqlite3.OperationalError) as caught:
        conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    conn.close()
    assert _describe(caught.value).startswith("queue storage is full (")
    assert _describe(sqlite3.OperationalError("database is locked")) == "database is locked"
