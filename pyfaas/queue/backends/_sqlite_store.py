"""The SQL of the SQLite queue: synchronous operations on one connection.

Two tables: ``calls`` holds every call ever accepted with its record (and is
where dead letters stay, ``state = 'dead'``); ``queue`` holds the calls still
to be settled, one row per call, ordered by ``seq``. ``due`` is when a row may
be claimed: the time it was queued, its retry time, or the end of its lease.
A claim is one ``UPDATE ... RETURNING`` in a ``BEGIN IMMEDIATE`` transaction,
so two processes never lease the same row. The writes here run inside a
transaction the caller (the writer process, ``_sqlite_writer``) opened, so
that many of them share one commit. Times are wall-clock Unix seconds
because several processes compare them.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

from pyfaas.errors import NotFound
from pyfaas.queue._records import final_state
from pyfaas.queue.base import QueueStats
from pyfaas.queue.envelope import CallRecord, CallState, Outcome, QueuedCall

_SCHEMA = """
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

_RECORD_COLUMNS = (
    "call_id, function, namespace, state, attempts, submitted_at, started_at, finished_at,"
    " status_code, error, callback_url, callback_status, callback_attempts"
)

# Scanning by seq (not by the due index) keeps FIFO order and stops after
# ``limit`` matches; only leased or delayed rows are stepped over.
_CLAIM = """
UPDATE queue SET due = :until, token = :token, attempt = attempt + 1
WHERE seq IN (SELECT seq FROM queue NOT INDEXED WHERE due <= :now ORDER BY seq LIMIT :limit)
RETURNING seq, call, attempt
"""


def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """A connection in WAL mode that fsyncs every commit, with the schema in place."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    # executescript commits any open transaction first, so the script brings its own.
    conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")
    return conn


_INSERT_CALL = (
    "INSERT INTO calls (call_id, payload, function, namespace, state, submitted_at, callback_url)"
    " VALUES (?, ?, ?, ?, 'queued', ?, ?)"
)


Row = tuple[str, bytes, str, str, float, str | None]  # as _INSERT_CALL binds them


def row(call: QueuedCall) -> Row:
    """What ``put_rows`` stores of ``call``."""
    return (
        call.call_id,
        call.encode(),
        call.function,
        call.namespace,
        call.submitted_at,
        call.callback_url,
    )


def put_rows(conn: sqlite3.Connection, rows: list[Row]) -> list[bool]:
    """Store calls given as ``row``s, with three statements in all.

    One statement per call would cost most of a put's time; the rows go in
    with one ``executemany`` and their queue rows with one ``INSERT ... SELECT``.
    """
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    seen = {
        found[0]
        for found in conn.execute(f"SELECT call_id FROM calls WHERE call_id IN ({marks})", ids)
    }
    stored, fresh = [], []
    for r in rows:
        stored.append(r[0] not in seen)
        if r[0] not in seen:
            seen.add(r[0])
            fresh.append(r)
    if fresh:
        conn.executemany(_INSERT_CALL, fresh)
        marks = ",".join("?" * len(fresh))
        conn.execute(
            f"INSERT INTO queue (call, due) SELECT id, ? FROM calls WHERE call_id IN ({marks})"
            " ORDER BY id",
            [time.time(), *(r[0] for r in fresh)],
        )
    return stored


def anything_due(conn: sqlite3.Connection) -> bool:
    """Whether a row is claimable now; a read, so it needs no write lock."""
    row = conn.execute("SELECT min(due) FROM queue").fetchone()
    return row[0] is not None and float(row[0]) <= time.time()


Claimed = tuple[bytes, int, str, float, str]  # payload, attempt, lease token, claimed at, call id


def claim(conn: sqlite3.Connection, limit: int, lease: float) -> list[Claimed]:
    """Lease up to ``limit`` due calls, oldest first; their payloads are still encoded.

    The caller decodes them and sets aside, by the call id given with each,
    any whose payload holds no call. A queue row whose call row is gone has
    nothing to run or to set aside: it is deleted.
    """
    now = time.time()
    secret = uuid.uuid4().hex
    params = {"until": now + lease, "token": secret, "now": now, "limit": limit}
    rows = conn.execute(_CLAIM, params).fetchall()
    claimed = []
    for seq, call, attempt in sorted(rows):
        found = conn.execute(
            "UPDATE calls SET state = 'running', attempts = ?, started_at = ? WHERE id = ?"
            " RETURNING payload, call_id",
            (attempt, now, call),
        ).fetchone()
        if found is None:
            conn.execute("DELETE FROM queue WHERE seq = ?", (seq,))
            continue
        claimed.append((found[0], attempt, f"{seq}.{secret}", now, found[1]))
    return claimed


def _lease(token: str) -> tuple[int, str]:
    seq, _, secret = token.partition(".")
    return int(seq), secret


def _lost(call_id: str) -> NotFound:
    return NotFound(f"lease on call {call_id} was lost")


# The writes below take a delivery's token and call id, not the delivery: they
# run in the writer process, which gets only those. Each raises (a lost lease)
# before it changes anything, so none needs a savepoint of its own.


def extend(conn: sqlite3.Connection, token: str, call_id: str, lease: float) -> None:
    seq, secret = _lease(token)
    cursor = conn.execute(
        "UPDATE queue SET due = ? WHERE seq = ? AND token = ?",
        (time.time() + lease, seq, secret),
    )
    if cursor.rowcount != 1:
        raise _lost(call_id)


def settle(
    conn: sqlite3.Connection,
    token: str,
    call_id: str,
    state: CallState,
    outcome: Outcome,
    retry_at: float | None = None,
) -> None:
    """End a lease: delete the row (ack, bury) or make it due at ``retry_at`` (retry)."""
    seq, secret = _lease(token)
    now = time.time()
    sql, params = "DELETE FROM queue WHERE seq = ? AND token = ?", [seq, secret]
    if retry_at is not None:
        sql = "UPDATE queue SET due = ?, token = NULL WHERE seq = ? AND token = ?"
        params = [retry_at, seq, secret]
    if conn.execute(sql, params).rowcount != 1:
        raise _lost(call_id)
    conn.execute(
        "UPDATE calls SET state = ?, started_at = coalesce(?, started_at), finished_at = ?,"
        " status_code = ?, error = ?, callback_status = ?, callback_attempts = ?, dead_at = ?"
        " WHERE call_id = ?",
        (
            state.value,
            outcome.started_at,
            None if retry_at is not None else (outcome.finished_at or now),
            outcome.status_code,
            outcome.error,
            outcome.callback_status,
            outcome.callback_attempts,
            now if state is CallState.DEAD else None,
            call_id,
        ),
    )


def ack(conn: sqlite3.Connection, token: str, call_id: str, outcome: Outcome) -> None:
    settle(conn, token, call_id, final_state(outcome), outcome)


def mark_running(
    conn: sqlite3.Connection, token: str, call_id: str, attempt: int, now: float
) -> None:
    """Note when the call really started; a no-op once the lease is gone.

    The claim already recorded ``running``, so this only refines ``started_at``
    (a call may wait for a function slot).
    """
    seq, secret = _lease(token)
    conn.execute(
        "UPDATE calls SET state = 'running', attempts = ?, started_at = ? WHERE call_id = ?"
        " AND EXISTS (SELECT 1 FROM queue WHERE seq = ? AND token = ?)",
        (attempt, now, call_id, seq, secret),
    )


def _to_record(row: Any) -> CallRecord:
    values = list(row)
    values[3] = CallState(values[3])
    return CallRecord(*values)


def record(conn: sqlite3.Connection, call_id: str) -> CallRecord | None:
    row = conn.execute(
        f"SELECT {_RECORD_COLUMNS} FROM calls WHERE call_id = ?", (call_id,)
    ).fetchone()
    return None if row is None else _to_record(row)


def dead_letters(conn: sqlite3.Connection, limit: int) -> list[CallRecord]:
    rows = conn.execute(
        f"SELECT {_RECORD_COLUMNS} FROM calls WHERE dead_at IS NOT NULL"
        " ORDER BY dead_at DESC, id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [_to_record(row) for row in rows]


def replay(conn: sqlite3.Connection, call_id: str) -> None:
    row = conn.execute(
        "UPDATE calls SET state = 'queued', attempts = 0, finished_at = NULL, dead_at = NULL"
        " WHERE call_id = ? AND state = 'dead' RETURNING id",
        (call_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"no dead letter with call id {call_id}")
    conn.execute("INSERT INTO queue (call, due) VALUES (?, ?)", (row[0], time.time()))


def stats(conn: sqlite3.Connection) -> QueueStats:
    queued, running = conn.execute(
        "SELECT count(*) - count(token), count(token) FROM queue"
    ).fetchone()
    dead = conn.execute("SELECT count(*) FROM calls WHERE dead_at IS NOT NULL").fetchone()[0]
    return QueueStats(queued=int(queued), running=int(running), dead=int(dead))
