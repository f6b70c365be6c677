"""The SQLite queue's attempt history, on the settle's SQL over a real file.

A retry appends its attempt to the row's history; a final settle (ack,
bury) appends only a mark, its attempt being the record's own columns. Read
back, every record shows each attempt once, whichever version wrote it:
rows finished before history was kept show none, rows whose final attempt
an earlier version wrote out show it once, and a replayed dead letter keeps
its attempts in order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyfaas.queue.backends import _sqlite_settle as settle
from pyfaas.queue.backends import _sqlite_steer as steer
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.backends._sqlite_wire import outcome_fields
from pyfaas.queue.envelope import Attempt, CallState, Outcome
from tests.factories import queued_call


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = store.connect(str(tmp_path / "queue.db"), 5.0)
    yield connection
    connection.close()


def _in_transaction(conn: sqlite3.Connection, write: Any) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    tally = store.Tally()
    done = write(tally)
    tally.write(conn)
    conn.execute("COMMIT")
    return done


def _put(conn: sqlite3.Connection, call_id: str) -> None:
    _in_transaction(conn, lambda t: store.put_rows(conn, [store.row(queued_call(call_id))], t))


def _claim_token(conn: sqlite3.Connection) -> str:
    (claimed,) = _in_transaction(conn, lambda t: store.claim(conn, 1, 30.0, t))
    token: str = claimed[2]
    return token


def _history(conn: sqlite3.Connection, call_id: str) -> list[Attempt]:
    record = settle.record(conn, call_id)
    assert record is not None
    return record.history


def _stored(conn: sqlite3.Connection, call_id: str) -> str | None:
    found: str | None = conn.execute(
        "SELECT history FROM calls WHERE call_id = ?", (call_id,)
    ).fetchone()[0]
    return found


def test_an_ack_keeps_its_attempt_in_the_records_columns_and_shows_it(
    conn: sqlite3.Connection,
) -> None:
    _put(conn, "c1")
    token = _claim_token(conn)
    outcome = Outcome(status_code=200, started_at=1000.0, finished_at=1001.5)
    _in_transaction(conn, lambda t: settle.ack(conn, token, "c1", outcome_fields(outcome), t))
    assert _stored(conn, "c1") == str(settle.LAST_ATTEMPT)  # a mark, not the attempt again
    assert _history(conn, "c1") == [Attempt(1, 1000.0, 1001.5, 200, None)]


def test_a_retry_then_a_bury_then_a_replay_and_an_ack_show_every_attempt_in_order(
    conn: sqlite3.Connection,
) -> None:
    _put(conn, "c1")
    token = _claim_token(conn)
    failed = outcome_fields(Outcome(status_code=503, started_at=1000.0, finished_at=1001.0))
    _in_transaction(
        conn, lambda t: settle.settle(conn, token, "c1", CallState.RETRYING, failed, 0.0, t)
    )
    token = _claim_token(conn)
    buried = outcome_fields(
        Outcome(status_code=500, error="boom", started_at=1010.0, finished_at=1011.0)
    )
    _in_transaction(
        conn, lambda t: settle.settle(conn, token, "c1", CallState.DEAD, buried, None, t)
    )
    expected = [Attempt(1, 1000.0, 1001.0, 503, None), Attempt(2, 1010.0, 1011.0, 500, "boom")]
    assert _history(conn, "c1") == expected
    (dead,) = steer.dead_letters(conn, 10, (None, None, None))
    assert dead.history == expected
    _in_transaction(conn, lambda t: steer.replay(conn, "c1", t))
    assert _history(conn, "c1") == expected  # written out: the columns start over
    token = _claim_token(conn)
    acked = Outcome(status_code=200, started_at=1020.0, finished_at=1021.0)
    _in_transaction(conn, lambda t: settle.ack(conn, token, "c1", outcome_fields(acked), t))
    assert _history(conn, "c1") == [*expected, Attempt(1, 1020.0, 1021.0, 200, None)]


def test_rows_written_before_the_mark_read_as_they_did(conn: sqlite3.Connection) -> None:
    fields = outcome_fields(Outcome(status_code=200, started_at=1000.0, finished_at=1001.0))
    for call_id in ("written-out", "before-history"):
        _put(conn, call_id)
        token = _claim_token(conn)
        _in_transaction(conn, lambda t, c=call_id, k=token: settle.ack(conn, k, c, fields, t))
    # As the settle before the mark wrote it: the final attempt written out.
    attempt = '{"a":1,"s":1000.0,"f":1001.0,"c":200,"e":null}'
    conn.execute("UPDATE calls SET history = ? WHERE call_id = 'written-out'", (attempt,))
    conn.execute("UPDATE calls SET history = NULL WHERE call_id = 'before-history'")
    assert _history(conn, "written-out") == [Attempt(1, 1000.0, 1001.0, 200, None)]
    assert _history(conn, "before-history") == []
