"""The SQL of the SQLite queue's steering: cancel, dead letters by filter, prune, counts.

``calls`` lists records newest first by row id, through the function's
index (``calls_by_function``: written once, by the put) or the table, a
window of ``LIST_SCAN`` rows at most for a filter no index answers: no index
follows the state, which changes with every claim and settle, where one
cost the drain a quarter more WAL written a call.

The writes (``cancel``, ``replay``, ``replay_where``, ``purge``, ``prune``)
run in the writer process inside the transaction its batch shares
(``_sqlite_commit``), as the hot path's do in ``_sqlite_store``: a cancel
and a claim are therefore never both true. The reads (``dead_letters``,
``dead_letter``, ``result``, ``stats``, ``calls``) run on the queue's read thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

from pyfaas.errors import Conflict, NotFound
from pyfaas.queue import _json
from pyfaas.queue._records import CALLBACKS, CANCELLABLE, cancel_refusal, decode_call
from pyfaas.queue.backends import _sqlite_settle as settle
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.backends._listing import page_size, position
from pyfaas.queue.base import CallFilter, CallPage, DeadLetterFilter, FunctionStats, QueueStats
from pyfaas.queue.envelope import CallRecord, CallState, QueuedCall, StoredResult

# A filter as it travels to the writer process: (function, reason, since).
Where = tuple[str | None, str | None, float | None]

_FINISHED = "('succeeded', 'failed', 'dead', 'expired', 'cancelled')"
# The rows a page of ``calls`` looks at at most: a filter the indexes do not
# answer (a state, a namespace) may make a short page, or an empty one, with
# a cursor to go on from, instead of a read of the whole table.
LIST_SCAN = 20_000
# A prune removes this many calls a transaction at most: a long one would hold
# back every put behind it. ``prune`` answers how many; the caller goes on.
PRUNE_BATCH = 2000
# Of FunctionStats; the last two are counters kept in ``lane_counts`` too.
_FIELDS = ("queued", "delayed", "running", "retrying", "dead", "processed", "callback_failures")
# The oldest call of a lane that waits to run now (a retry is not waiting to start).
_OLDEST = """
SELECT max(c.submitted_at, c.not_before) FROM queue AS q INDEXED BY queue_fair
JOIN calls AS c ON c.id = q.call
WHERE q.lane = ? AND q.parked = 0 AND q.token IS NULL AND q.due <= ?
    AND c.state IN ('queued', 'delayed')
ORDER BY q.seq LIMIT 1
"""
# And of its delayed calls whose time came but that no claim has unparked yet.
_OLDEST_PARKED = """
SELECT max(c.submitted_at, c.not_before) FROM queue AS q INDEXED BY queue_parked
JOIN calls AS c ON c.id = q.call
WHERE q.parked != 0 AND q.due <= ? AND q.attempt = 0 AND q.lane = ?
ORDER BY q.due LIMIT 1
"""


def where_fields(where: DeadLetterFilter | None) -> Where:
    if where is None:
        return (None, None, None)
    return (where.function, where.reason, where.since)


def _matching(where: Where) -> tuple[str, list[Any]]:
    """The condition picking the dead letters ``where`` names, and its parameters."""
    function, reason, since = where
    sql: list[str] = ["dead_at IS NOT NULL"]
    params: list[Any] = []
    if function is not None:
        sql.append("function || '.' || namespace = ?")
        params.append(function)
    if reason is not None:
        sql.append("reason = ?")
        params.append(reason)
    if since is not None:
        sql.append("coalesce(finished_at, 0) >= ?")
        params.append(since)
    return " AND ".join(sql), params


def dead_letters(conn: sqlite3.Connection, limit: int, where: Where) -> list[CallRecord]:
    condition, params = _matching(where)
    rows = conn.execute(
        f"SELECT {settle.RECORD_COLUMNS} FROM calls WHERE {condition}"
        " ORDER BY dead_at DESC, id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    now = time.time()
    return [settle.to_record(row, now) for row in rows]


def _state_test(where: CallFilter, now: float) -> tuple[str, list[Any]]:
    """The condition on the state ``where`` names, as ``as_of`` reads it.

    A delayed call whose time came reads as queued, though its row says
    ``delayed`` until a claim unparks it.
    """
    if where.state is None:
        return "1", []
    if where.state is CallState.QUEUED:
        return "(state = 'queued' OR (state = 'delayed' AND not_before <= ?))", [now]
    if where.state is CallState.DELAYED:
        return "state = 'delayed' AND not_before > ?", [now]
    return "state = ?", [where.state.value]


def calls(conn: sqlite3.Connection, where: CallFilter, limit: int) -> CallPage:
    """A page of ``where``, newest row first; see ``LIST_SCAN`` for a short page.

    A function alone is answered by ``calls_by_function`` exactly; a state
    or a namespace is tested on the rows of a window of ``LIST_SCAN`` row
    ids below the cursor (row ids grow by one a put; a prune leaves gaps,
    which only make the window hold fewer rows).
    """
    now, size = time.time(), page_size(limit)
    found = position(where)
    exact = where.state is None and where.namespace is None
    if found is None:
        top = conn.execute("SELECT max(id) FROM calls").fetchone()[0]
        found = (top or 0) + 1
    floor = 0 if exact else max(found - LIST_SCAN, 0)
    state, state_params = _state_test(where, now)
    named, params = "WHERE", [found, floor]
    if where.function is not None:
        named = "INDEXED BY calls_by_function WHERE function = ? AND"
        params = [where.function, *params]
    rows = conn.execute(
        f"SELECT {settle.RECORD_COLUMNS}, id FROM calls {named} id < ? AND id >= ?"
        f" AND lane != '{CALLBACKS}' AND coalesce(namespace = ?, 1) AND {state}"
        " ORDER BY id DESC LIMIT ?",
        [*params, where.namespace, *state_params, size + 1],
    ).fetchall()
    records = tuple(settle.to_record(row[:-1], now) for row in rows[:size])
    if len(rows) > size:
        return CallPage(records, str(rows[size - 1][-1]))
    # Fewer than asked: the end, unless the window stopped above the first row.
    return CallPage(records, str(floor) if floor > 1 else None)


def dead_letter(conn: sqlite3.Connection, call_id: str) -> tuple[CallRecord, QueuedCall | None]:
    found = conn.execute(
        f"SELECT {settle.RECORD_COLUMNS}, payload FROM calls"
        " WHERE call_id = ? AND dead_at IS NOT NULL",
        (call_id,),
    ).fetchone()
    if found is None:
        raise NotFound(f"no dead letter with call id {call_id}")
    return settle.to_record(found[:-1], time.time()), decode_call(found[-1])


def result(conn: sqlite3.Connection, call_id: str) -> StoredResult | None:
    found = conn.execute(
        "SELECT status, headers, body, truncated, size FROM results"
        " WHERE call = (SELECT id FROM calls WHERE call_id = ?)",
        (call_id,),
    ).fetchone()
    if found is None:
        return None
    status, headers, body, truncated, size = found
    pairs = [(str(k), str(v)) for k, v in _json.loads(headers)]
    return StoredResult(int(status), pairs, bytes(body), bool(truncated), int(size))


def replay(conn: sqlite3.Connection, call_id: str, tally: store.Tally) -> None:
    """Queue a dead letter again: its history stays (its last attempt written out), its
    result and expire_at go.

    An expired call replayed would only be set aside again: the one who
    replays it wants it run now, so the payload loses its ``expire_at`` too.
    """
    found = conn.execute(
        "UPDATE calls SET state = 'queued', attempts = 0, finished_at = NULL, dead_at = NULL,"
        f" reason = NULL, expire_at = 0, history = {settle.WITH_LAST_ATTEMPT}"
        " WHERE call_id = ? AND dead_at IS NOT NULL RETURNING id, lane, payload",
        (call_id,),
    ).fetchone()
    if found is None:
        raise NotFound(f"no dead letter with call id {call_id}")
    call, lane, payload = found
    queued = decode_call(payload)
    if queued is not None and queued.expire_at:
        payload = replace(queued, expire_at=0.0).encode()
        conn.execute("UPDATE calls SET payload = ? WHERE id = ?", (payload, call))
    conn.execute("DELETE FROM results WHERE call = ?", (call,))
    conn.execute("INSERT INTO queue (call, due, lane) VALUES (?, ?, ?)", (call, time.time(), lane))
    tally.move(lane, "dead", "waiting")


def replay_where(conn: sqlite3.Connection, where: Where, tally: store.Tally) -> int:
    condition, params = _matching(where)
    ids = [row[0] for row in conn.execute(f"SELECT call_id FROM calls WHERE {condition}", params)]
    for call_id in ids:
        replay(conn, call_id, tally)
    return len(ids)


def purge(conn: sqlite3.Connection, where: Where, tally: store.Tally) -> int:
    condition, params = _matching(where)
    return _forget(conn, f"SELECT id FROM calls WHERE {condition}", params, tally)


def prune(conn: sqlite3.Connection, before: float, tally: store.Tally) -> int:
    """Forget up to ``PRUNE_BATCH`` calls finished before ``before``; how many."""
    return _forget(
        conn,
        "SELECT id FROM calls INDEXED BY calls_finished WHERE finished_at < ?"
        f" AND state IN {_FINISHED} LIMIT ?",
        [before, PRUNE_BATCH],
        tally,
    )


def _forget(conn: sqlite3.Connection, picked: str, params: list[Any], tally: store.Tally) -> int:
    """Delete the calls ``picked`` selects (ids) and their results; their ids may be used again."""
    gone = conn.execute(
        f"DELETE FROM calls WHERE id IN ({picked}) RETURNING id, lane, dead_at IS NOT NULL",
        params,
    ).fetchall()
    conn.executemany("DELETE FROM results WHERE call = ?", [(g[0],) for g in gone])
    for _, lane, dead in gone:
        if dead:
            tally.move(lane, "dead", None)
    return len(gone)


def cancel(conn: sqlite3.Connection, call_id: str, tally: store.Tally) -> None:
    """Cancel a call that has not started; ``NotFound`` or ``Conflict`` otherwise.

    In the writer's transaction, as claims are: the call is either claimed
    (running, and the cancel a ``Conflict``) or cancelled (never claimed).
    """
    now = time.time()
    states = ", ".join(f"'{state.value}'" for state in CANCELLABLE)
    found = conn.execute(
        f"UPDATE calls SET state = 'cancelled', finished_at = ? WHERE call_id = ?"
        f" AND state IN ({states}) RETURNING id, lane",
        (now, call_id),
    ).fetchone()
    if found is None:
        known = settle.record(conn, call_id)
        if known is None:
            raise NotFound(f"no call with call id {call_id}")
        raise Conflict(cancel_refusal(known))
    call, lane = found
    for parked, attempt in conn.execute(
        "DELETE FROM queue WHERE call = ? AND token IS NULL RETURNING parked, attempt", (call,)
    ).fetchall():
        share = "retrying" if attempt > 0 else "delayed" if parked else "waiting"
        tally.move(lane, share, None)


def stats(conn: sqlite3.Connection) -> QueueStats:
    """Counts per lane from ``lane_counts`` and the clock.

    A delayed call whose time came but that no claim has unparked yet counts
    as queued (read through the index of parked rows, from the due ones on).
    Nothing here reads every queued row.
    """
    now = time.time()
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FIELDS, 0))
    for lane, share, n in conn.execute("SELECT lane, share, n FROM lane_counts WHERE n != 0"):
        counts[lane]["queued" if share == "waiting" else share] += n
    for lane, n in conn.execute(
        "SELECT lane, count(*) FROM queue INDEXED BY queue_parked"
        " WHERE parked != 0 AND due <= ? AND attempt = 0 GROUP BY lane",
        (now,),
    ):
        counts[lane]["delayed"] -= n
        counts[lane]["queued"] += n
    # Rows another program wrote name no function: they were never counted as
    # waiting, and count only once set aside as dead letters.
    unnamed = counts.pop("", None)
    functions = []
    for lane, c in sorted(counts.items()):
        oldest = 0.0
        if c["queued"] > 0:
            since = [
                float(found[0])
                for found in (
                    conn.execute(_OLDEST, (lane, now)).fetchone(),
                    conn.execute(_OLDEST_PARKED, (now, lane)).fetchone(),
                )
                if found is not None
            ]
            oldest = max(now - min(since), 0.0) if since else 0.0
        functions.append(FunctionStats(lane, oldest_age=oldest, **c))
    every = [*counts.values()]
    return QueueStats(
        queued=sum(c["queued"] for c in every),
        running=sum(c["running"] for c in every) + (unnamed or {}).get("running", 0),
        dead=sum(c["dead"] for c in every) + (unnamed or {}).get("dead", 0),
        delayed=sum(c["delayed"] for c in every),
        retrying=sum(c["retrying"] for c in every),
        functions=tuple(functions),
    )
