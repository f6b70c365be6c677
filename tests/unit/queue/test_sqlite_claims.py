"""The SQLite queue's fair claims, on the store's SQL over a real file.

A claim reads each lane for its share of the limit, and reads more only
where the others fell short; whatever the lanes hold, it must pick what
``fair_order`` picks from every due row.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.queue._records import fair_key, fair_order
from pyfaas.queue.backends import _sqlite_store as store
from tests.factories import queued_call


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = store.connect(str(tmp_path / "queue.db"), 5.0)
    yield connection
    connection.close()


def _put_rows(conn: sqlite3.Connection, rows: list[store.Row]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    tally = store.Tally()
    store.put_rows(conn, rows, tally)
    tally.write(conn)
    conn.execute("COMMIT")


def _put(conn: sqlite3.Connection, functions: list[str]) -> list[tuple[str, int]]:
    _put_rows(conn, [store.row(queued_call(function=f)) for f in functions])
    return [(lane, seq) for seq, lane in conn.execute("SELECT seq, lane FROM queue ORDER BY seq")]


def _claim(conn: sqlite3.Connection, limit: int) -> list[str]:
    conn.execute("BEGIN IMMEDIATE")
    tally = store.Tally()
    claimed = store.claim(conn, limit, 60, tally)
    tally.write(conn)
    conn.execute("COMMIT")
    return [call_id for *_, call_id in claimed]


@pytest.mark.parametrize("seed", range(8))
def test_a_claim_picks_what_fair_order_picks_from_every_due_row(
    conn: sqlite3.Connection, seed: int
) -> None:
    rng = random.Random(seed)
    functions = [f"fn{rng.randrange(6) if rng.random() < 0.5 else 0}" for _ in range(60)]
    rows = _put(conn, functions)
    limit = rng.randrange(1, 30)
    expected = fair_order(rows, limit)
    ids = {seq: call_id for seq, call_id in conn.execute("SELECT id, call_id FROM calls")}
    assert _claim(conn, limit) == [ids[seq] for seq in expected]


def test_a_lane_short_of_its_share_leaves_the_rest_to_the_others(
    conn: sqlite3.Connection,
) -> None:
    _put(conn, ["big"] * 20 + ["small"] + ["other"] * 3)
    claimed = _claim(conn, 9)
    functions = dict(conn.execute("SELECT call_id, function FROM calls"))
    assert sorted(functions[c] for c in claimed) == ["big"] * 5 + ["other"] * 3 + ["small"]


def test_callback_deliveries_take_turns_as_one_lane(conn: sqlite3.Connection) -> None:
    from pyfaas.queue.envelope import Answer

    answer = Answer("x", 200, 0.1, "1")
    calls = [queued_call(f"cb{n}", f"fn{n}", answer=answer) for n in range(3)]
    assert {fair_key(c) for c in calls} == {"callbacks"}
    _put_rows(conn, [store.row(c) for c in calls] + [store.row(queued_call("plain"))])
    assert _claim(conn, 2) == ["cb0", "plain"]


def test_a_delayed_row_is_stepped_over_until_its_time(conn: sqlite3.Connection) -> None:
    late = queued_call("late", not_before=time.time() + 60)
    _put_rows(conn, [store.row(late), store.row(queued_call("now"))])
    assert _claim(conn, 5) == ["now"]
    assert conn.execute("SELECT state FROM calls WHERE call_id = 'late'").fetchone() == ("delayed",)
