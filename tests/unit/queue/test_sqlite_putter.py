"""The SQLite putter: calls stored by a child process, honest errors when it cannot store them."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyfaas.errors import QueueUnavailable
from pyfaas.queue import QueuedCall
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.backends._sqlite_putter import CHECKPOINT_EVERY, Putter
from tests.helpers import wait_for


def _call(call_id: str) -> QueuedCall:
    return QueuedCall(call_id, "echo", "openfaas-fn", body=b"x", submitted_at=1.0)


def _children() -> list[int]:
    """This process's putter children, by their command line."""
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            for pid in f.read().split():
                with open(f"/proc/{pid}/cmdline", "rb") as cmd:
                    if b"_sqlite_putter" in cmd.read():
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
async def putter(db: Path) -> AsyncIterator[Putter]:
    putter = Putter(str(db), busy_timeout=5.0)
    yield putter
    await putter.close()


async def test_puts_are_stored_in_order_and_a_known_id_once(putter: Putter, db: Path) -> None:
    results = await asyncio.gather(*(putter.put(_call(f"c{i}")) for i in range(20)))
    assert results == [True] * 20
    assert await putter.put(_call("c3")) is False
    assert _ids(db) == [f"c{i}" for i in range(20)]


async def test_a_database_error_fails_the_put_with_its_cause(db: Path) -> None:
    putter = Putter(str(db), busy_timeout=0.05)
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(QueueUnavailable, match="database is locked"):
            await putter.put(_call("blocked"))
        holder.execute("ROLLBACK")
        assert await putter.put(_call("later")) is True
        assert _ids(db) == ["later"]
    finally:
        holder.close()
        await putter.close()


async def test_a_killed_writer_fails_its_waiting_puts_and_the_next_put_starts_another(
    putter: Putter, db: Path
) -> None:
    assert await putter.put(_call("first")) is True
    (child,) = _children()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the child now waits for the lock
        waiting = asyncio.create_task(putter.put(_call("in-flight")))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        os.kill(child, signal.SIGKILL)
        with pytest.raises(QueueUnavailable, match="writer process exited"):
            await asyncio.wait_for(waiting, 10)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert await putter.put(_call("after")) is True
    assert _children() != [child]
    assert _ids(db) == ["first", "after"]  # the unanswered call was never stored


async def test_close_ends_the_child(putter: Putter) -> None:
    assert await putter.put(_call("one")) is True
    assert len(_children()) == 1
    await putter.close()
    assert _children() == []


async def test_the_child_checkpoints_the_wal_into_the_database_file(
    putter: Putter, db: Path
) -> None:
    # The child turns SQLite's own checkpoint off (it would run inside a
    # commit, delaying answers) and checkpoints when its socket is idle.
    before = await asyncio.to_thread(os.path.getsize, db)
    for start in range(0, CHECKPOINT_EVERY + 200, 100):
        await asyncio.gather(*(putter.put(_call(f"c{start + i}")) for i in range(100)))
    grown = lambda: os.path.getsize(db) > before + 100 * 1024  # noqa: E731
    await asyncio.to_thread(wait_for, grown)
