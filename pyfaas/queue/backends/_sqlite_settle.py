"""The SQL that ends or reads a lease and reads a record: extend, settle, ack, mark_running.

The other half of the hot path (puts and claims) is in ``_sqlite_store``,
which hands each claimed call a lease token; the writes here take that token
apart (``_lease``) rather than read rows first. Like the puts and claims, they
run inside a transaction the writer process (``_sqlite_writer``) opened, and
add what they moved to its ``Tally``. ``RECORD_COLUMNS`` and ``to_record``
read a call's record back, here and in ``_sqlite_steer``.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from pyfaas.errors import NotFound
from pyfaas.queue import _json
from pyfaas.queue._records import CALLBACKS, as_of, bury_reason_of, final_state_of
from pyfaas.queue.backends._sqlite_store import Tally
from pyfaas.queue.backends._sqlite_wire import OutcomeFields
from pyfaas.queue.envelope import Attempt, CallRecord, CallState

RECORD_COLUMNS = (
    "call_id, function, namespace, state, attempts, submitted_at, started_at, finished_at,"
    " status_code, error, callback_url, callback_status, callback_attempts, not_before,"
    " expire_at, fingerprint, reason, history,"
    " EXISTS (SELECT 1 FROM results WHERE results.call = calls.id)"
)


def _lease(token: str) -> tuple[int, int, int, str, str]:
    """A lease token's queue row, attempt, call row, secret and lane: what a settle
    records (the history's attempt, the lane's counts) without reading rows first."""
    seq, attempt, call, secret, lane = token.split(".", 4)
    return int(seq), int(attempt), int(call), secret, lane


def _lost(call_id: str) -> NotFound:
    return NotFound(f"lease on call {call_id} was lost")


# The writes below take a delivery's token and call id, not the delivery: they
# run in the writer process, which gets only those. Each raises (a lost lease)
# before it changes anything, so none needs a savepoint of its own.


def extend(conn: sqlite3.Connection, token: str, call_id: str, lease: float) -> None:
    seq, _, _, secret, _ = _lease(token)
    cursor = conn.execute(
        "UPDATE queue SET due = ? WHERE seq = ? AND token = ?",
        (time.time() + lease, seq, secret),
    )
    if cursor.rowcount != 1:
        raise _lost(call_id)


# A retry's attempt joins the record's history as Attempt.to_json writes it,
# built by SQLite itself and appended to the text (``_sqlite_schema``): no
# JSON is parsed on a settle. A final settle's attempt (ack, bury) is the
# record's own columns (``attempts``, ``started_at``, ``finished_at``,
# ``status_code``, ``error``), which it writes anyway, so it appends only
# ``LAST_ATTEMPT`` in its place: the whole attempt grew every row by some 70
# bytes, and rows packed by the puts split their pages (3 of the 17 pages a
# transaction of 8 claims and 8 acks wrote). ``to_record`` reads the columns
# where it finds it, and a replay (``WITH_LAST_ATTEMPT``) writes it out.
LAST_ATTEMPT = 0
_SETTLED = f"""
UPDATE calls SET state = ?1, started_at = coalesce(?2, started_at), finished_at = ?3,
    status_code = ?4, error = ?5, callback_status = ?6, callback_attempts = ?7,
    dead_at = ?8, reason = ?9, history = coalesce(history || ',', '') || iif(?3 IS NULL,
        json_object('a', ?10, 's', coalesce(?2, started_at), 'f', ?11, 'c', ?4, 'e', ?5),
        '{LAST_ATTEMPT}')
WHERE id = ?12
"""
# The history with a final settle's attempt written out in place of its mark,
# for a replay: the record's columns are about to start over.
WITH_LAST_ATTEMPT = f"""iif(history LIKE '%{LAST_ATTEMPT}',
    substr(history, 1, length(history) - 1) || json_object('a', attempts, 's', started_at,
        'f', finished_at, 'c', status_code, 'e', error),
    history)"""
_RESULT = (
    "INSERT OR REPLACE INTO results (call, status, headers, body, truncated, size,"
    " finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def settle(
    conn: sqlite3.Connection,
    token: str,
    call_id: str,
    state: CallState | None,
    fields: OutcomeFields,
    retry_at: float | None,
    tally: Tally,
) -> None:
    """End a lease: delete the row (ack, bury) or make it due at ``retry_at`` (retry).

    ``fields`` is the outcome as it travels (``_sqlite_wire.outcome_fields``):
    read as it came, since making an ``Outcome`` and its result of it cost a
    few microseconds a settle. ``state`` None: the final state the outcome
    calls for (an ack). The attempt joins the history (a retry's written
    out, a final one the record's columns); a bury keeps its reason, and an
    ack or a bury the function's answer (``results``).
    """
    status_code, error, callback_status, callback_attempts, started, finished = fields[:6]
    result, reason = fields[6:]
    if state is None:
        state = final_state_of(status_code, error)
    seq, attempt, call, secret, lane = _lease(token)
    now = time.time()
    sql, params = "DELETE FROM queue WHERE seq = ? AND token = ?", [seq, secret]
    if retry_at is not None:
        sql = "UPDATE queue SET due = ?, token = NULL, parked = 2 WHERE seq = ? AND token = ?"
        params = [retry_at, seq, secret]
    if conn.execute(sql, params).rowcount != 1:
        raise _lost(call_id)
    ended = finished or now
    dead = state is CallState.DEAD
    _count(conn, tally, lane, call, state, retrying=retry_at is not None)
    conn.execute(
        _SETTLED,
        (
            state.value,
            started,
            None if retry_at is not None else ended,
            status_code,
            error,
            callback_status,
            callback_attempts,
            now if dead else None,
            bury_reason_of(reason) if dead else None,
            attempt,
            ended,
            call,
        ),
    )
    if result is not None and retry_at is None:
        status, headers, body, truncated, size = result
        conn.execute(
            _RESULT, (call, status, _json.dumps(headers).decode(), body, truncated, size, ended)
        )


def _count(
    conn: sqlite3.Connection, tally: Tally, lane: str, call: int, state: CallState, retrying: bool
) -> None:
    """Move a settled call's lane counts: out of running, into dead, retrying or processed."""
    dead = state is CallState.DEAD
    tally.move(lane, "running", "dead" if dead else "retrying" if retrying else None)
    if retrying:
        return
    # Counters, never lowered: settled for good per lane, and a callback
    # delivery that failed for good in its call's function's row (the
    # delivery's own row names that function; read only for a failure).
    tally.move(lane, None, "processed")
    if lane == CALLBACKS and state in (CallState.FAILED, CallState.DEAD):
        sql = "SELECT function, namespace FROM calls WHERE id = ?"
        named = conn.execute(sql, (call,)).fetchone()
        tally.move(f"{named[0]}.{named[1]}" if named else lane, None, "callback_failures")


def ack(
    conn: sqlite3.Connection, token: str, call_id: str, fields: OutcomeFields, tally: Tally
) -> None:
    settle(conn, token, call_id, None, fields, None, tally)


def mark_running(
    conn: sqlite3.Connection, token: str, call_id: str, attempt: int, now: float
) -> None:
    """Note when the call really started; a no-op once the lease is gone.

    The claim already recorded ``running``, so this only refines ``started_at``
    (a call may wait for a function slot).
    """
    seq, _, call, secret, _ = _lease(token)
    conn.execute(
        "UPDATE calls SET state = 'running', attempts = ?, started_at = ? WHERE id = ?"
        " AND EXISTS (SELECT 1 FROM queue WHERE seq = ? AND token = ?)",
        (attempt, now, call, seq, secret),
    )


def to_record(row: Any, now: float) -> CallRecord:
    """A record from the columns of ``RECORD_COLUMNS``, as it reads at ``now``."""
    history = []
    if row[17]:
        history = [
            Attempt(row[4], row[6], row[7], row[8], row[9])
            if a == LAST_ATTEMPT
            else Attempt.from_json(a)
            for a in _json.loads(f"[{row[17]}]")
        ]
    found = CallRecord(
        call_id=row[0],
        function=row[1],
        namespace=row[2],
        state=CallState(row[3]),
        attempts=row[4],
        submitted_at=row[5],
        started_at=row[6],
        finished_at=row[7],
        status_code=row[8],
        error=row[9],
        callback_url=row[10],
        callback_status=row[11],
        callback_attempts=row[12],
        not_before=row[13],
        expire_at=row[14],
        fingerprint=row[15],
        reason=row[16],
        history=history,
        has_result=bool(row[18]),
    )
    return as_of(found, now)


def record(conn: sqlite3.Connection, call_id: str) -> CallRecord | None:
    found = conn.execute(
        f"SELECT {RECORD_COLUMNS} FROM calls WHERE call_id = ?", (call_id,)
    ).fetchone()
    return None if found is None else to_record(found, time.time())
