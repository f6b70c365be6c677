"""The SQLite queue's schema brought up to date: a file made by the first steering version.

That version kept ``results`` by call id, beside an index of its own; the
results are now kept by the call's row id. It counted running calls from an
index of the leased rows; they are now counted in ``lane_counts`` with the
others. Opened again, such a file keeps every result its calls had, and
counts the calls running as it did.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pyfaas.queue.backends import _sqlite_settle as settle
from pyfaas.queue.backends import _sqlite_steer as steer
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.envelope import StoredResult
from tests.factories import queued_call


def _put(conn: sqlite3.Connection, *call_ids: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    tally = store.Tally()
    store.put_rows(conn, [store.row(queued_call(c, "figlet")) for c in call_ids], tally)
    tally.write(conn)
    conn.execute("COMMIT")


# As the first steering version made it.
_RESULTS_BY_CALL_ID = """
CREATE TABLE results (
    call_id TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    finished_at REAL
)
"""


def test_results_kept_by_call_id_are_kept_by_row_once_the_file_is_opened(tmp_path: Path) -> None:
    path = str(tmp_path / "queue.db")
    conn = store.connect(path, 5.0)
    conn.execute("BEGIN IMMEDIATE")
    rows = [store.row(queued_call(call_id)) for call_id in ("kept", "without")]
    store.put_rows(conn, rows, store.Tally())
    conn.execute("DROP TABLE results")
    conn.execute(_RESULTS_BY_CALL_ID)
    conn.executemany(
        "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            ("kept", 201, '[["X-A","1"]]', b"body", 1, 9, 5.0),
            ("gone", 200, "[]", b"", 0, 0, 5.0),  # its call was pruned: nothing keeps it
        ],
    )
    conn.execute("COMMIT")
    conn.close()

    conn = store.connect(path, 5.0)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(results)")]
        assert columns[0] == "call"
        assert steer.result(conn, "kept") == StoredResult(201, [("X-A", "1")], b"body", True, 9)
        assert steer.result(conn, "without") is None
        assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 1
        kept, without = settle.record(conn, "kept"), settle.record(conn, "without")
        assert kept is not None
        assert kept.has_result
        assert without is not None
        assert not without.has_result
    finally:
        conn.close()


def test_running_calls_of_a_file_counted_before_are_counted_once_it_is_opened(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "queue.db")
    conn = store.connect(path, 5.0)
    _put(conn, "a", "b", "c")
    conn.execute("BEGIN IMMEDIATE")
    tally = store.Tally()
    assert len(store.claim(conn, 2, 30.0, tally)) == 2
    tally.write(conn)
    # As that version left it: running calls not counted, an index of the leases.
    conn.execute("CREATE INDEX queue_leased ON queue (lane) WHERE token IS NOT NULL")
    conn.execute("DELETE FROM lane_counts WHERE share = 'running'")
    conn.execute("PRAGMA user_version = 0")
    conn.execute("COMMIT")
    conn.close()

    for _ in range(2):  # counted once: opened again, nothing moves
        conn = store.connect(path, 5.0)
        try:
            (figlet,) = steer.stats(conn).functions
            assert (figlet.queued, figlet.running) == (1, 2)
            indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            assert "queue_leased" not in indexes
        finally:
            conn.close()
