"""The SQL of the SQLite queue's hot path into a lease: puts and claims.

The tables are in ``_sqlite_schema``: ``calls`` holds every call ever
accepted with its record (dead letters stay there, ``dead_at`` set);
``queue`` holds the calls still to be settled, one row per call, ordered by
``seq``. ``due`` is when a row may be claimed: the time it was queued (or
its ``not_before``: such a row is parked until then), its retry time, or the
end of its lease. A claim takes the lanes (functions) in turn, oldest first
within each, and leases its rows with one ``UPDATE ... RETURNING`` in a
``BEGIN IMMEDIATE`` transaction, so two processes never lease the same row.
A claim's lease token carries what ending the lease needs; extending,
settling and acking it, and reading records back, are in ``_sqlite_settle``.
The steering operations (cancel, dead letters by filter, prune, counts) are
in ``_sqlite_steer``. The writes here run inside a transaction the caller
(the writer process, ``_sqlite_writer``) opened, so that many of them share
one commit. Times are wall-clock Unix seconds because several processes
compare them.
"""

from __future__ import annotations

import sqlite3
import time
import uuid

from pyfaas.queue._records import (
    EXPIRED,
    conflicts,
    fair_key,
    fair_order,
)
from pyfaas.queue.backends import _sqlite_schema as schema
from pyfaas.queue.envelope import QueuedCall

# The lanes that have rows, one index step each (a skip-scan of queue_fair):
# a handful of rows however many calls are queued.
_EACH_LANE = """
WITH RECURSIVE lanes(lane) AS (
    SELECT min(lane) FROM queue
    UNION ALL
    SELECT (SELECT min(lane) FROM queue WHERE lane > lanes.lane) FROM lanes
    WHERE lanes.lane IS NOT NULL
)"""
_LANES = f"{_EACH_LANE} SELECT lane FROM lanes WHERE lane IS NOT NULL"
# A lane's oldest due rows: the index of its unparked rows is in seq order, so
# the scan stops after ``limit`` matches, stepping over leased rows only.
# ``share``: what the row counts as until it is claimed (``Tally``), from the
# row alone: leased (a lease that ran out: None, it stays running), tried
# before (retrying), or waiting.
_LANE_DUE = (
    "SELECT seq, iif(token IS NOT NULL, NULL, iif(attempt > 0, 'retrying', 'waiting'))"
    " FROM queue INDEXED BY queue_fair WHERE lane = ? AND parked = 0 AND due <= ?"
    " ORDER BY seq LIMIT ?"
)
# The parked rows whose time has come join the scan; a delayed call's (never
# claimed) moves from the delayed count to the waiting one.
_UNPARK = (
    "UPDATE queue INDEXED BY queue_parked SET parked = 0 WHERE parked != 0 AND due <= ?"
    " RETURNING lane, attempt"
)
_LEASE = (
    "UPDATE queue SET due = ?, token = ?, attempt = attempt + 1 WHERE seq IN ({})"
    " RETURNING seq, call, attempt"
)
# The calls of the rows just leased start, with one statement for them all
# (one each cost some 3 µs a call more); a call that never started and is
# past its expire_at is not started now.
_STARTS = (
    "UPDATE calls SET state = 'running', attempts = q.attempt, started_at = ?1"
    " FROM queue AS q WHERE q.token = ?2 AND calls.id = q.call AND calls.state != 'cancelled'"
    " AND NOT (calls.attempts = 0 AND calls.expire_at > 0 AND calls.expire_at <= ?1)"
    " AND q.seq IN ({})"  # last: its ? are numbered after ?2
    " RETURNING calls.id, calls.payload, calls.call_id"
)
_EXPIRES = (
    "UPDATE calls SET state = 'expired', reason = ?, finished_at = ?, dead_at = ?"
    " WHERE id = ? AND state != 'cancelled' AND attempts = 0 AND expire_at > 0"
    " AND expire_at <= ?"
)
# Rounds of a claim that found only expired or cancelled calls in its rows.
_CLAIM_ROUNDS = 8


class Tally:
    """The changes to ``lane_counts`` of one transaction's writes, written once at its end.

    A trigger would count each row at some 2 µs a statement; a transaction
    holding fifty claims of one function changes one count. Each write adds
    what it moved only once nothing can fail it any more.
    """

    def __init__(self) -> None:
        self._changes: dict[tuple[str, str], int] = {}

    def move(self, lane: str, left: str | None, entered: str | None) -> None:
        """One call of ``lane`` left share ``left`` for ``entered`` (None: a share not counted)."""
        changes = self._changes
        if left is not None:
            changes[lane, left] = changes.get((lane, left), 0) - 1
        if entered is not None:
            changes[lane, entered] = changes.get((lane, entered), 0) + 1

    def write(self, conn: sqlite3.Connection) -> None:
        rows = [(lane, share, n) for (lane, share), n in self._changes.items() if n]
        if rows:
            conn.executemany(
                "INSERT INTO lane_counts VALUES (?, ?, ?)"
                " ON CONFLICT DO UPDATE SET n = n + excluded.n",
                rows,
            )
        self._changes.clear()


def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """A connection in WAL mode that fsyncs every commit, with the schema in place."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")  # the first opener of an older file migrates it alone
    try:
        schema.ensure(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
        raise
    return conn


_INSERT_CALL = (
    "INSERT INTO calls (call_id, payload, function, namespace, submitted_at, callback_url,"
    " lane, fingerprint, not_before, expire_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


# As _INSERT_CALL binds them, but for the state, which the put's time decides.
Row = tuple[str, bytes, str, str, float, str | None, str, str, float, float]


def row(call: QueuedCall) -> Row:
    """What ``put_rows`` stores of ``call``."""
    return (
        call.call_id,
        call.encode(),
        call.function,
        call.namespace,
        call.submitted_at,
        call.callback_url,
        fair_key(call),
        call.fingerprint,
        call.not_before,
        call.expire_at,
    )


def put_rows(conn: sqlite3.Connection, rows: list[Row], tally: Tally) -> list[bool | str]:
    """Store calls given as ``row``s, with three statements in all.

    Each answer is True (stored), False (the call id is known with a
    matching fingerprint: nothing stored) or the message of a ``Conflict``.
    One statement per call would cost most of a put's time; the rows go in
    with one ``executemany`` and their queue rows with one ``INSERT ... SELECT``.
    """
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    seen = dict(
        conn.execute(f"SELECT call_id, fingerprint FROM calls WHERE call_id IN ({marks})", ids)
    )
    now = time.time()
    answers: list[bool | str] = []
    fresh = []
    for r in rows:
        known = seen.get(r[0])
        if known is None:
            seen[r[0]] = r[7]
            fresh.append((*r, "delayed" if r[8] > now else "queued"))
            answers.append(True)
            tally.move(r[6], None, "delayed" if r[8] > now else "waiting")
        elif conflicts(known, r[7]):
            answers.append(f"call ID {r[0]} is taken by another call")
        else:
            answers.append(False)
    if fresh:
        conn.executemany(_INSERT_CALL, fresh)
        marks = ",".join("?" * len(fresh))
        conn.execute(
            "INSERT INTO queue (call, due, lane, parked) SELECT id, max(?, not_before), lane,"
            f" not_before > ? FROM calls WHERE call_id IN ({marks}) ORDER BY id",
            [now, now, *(r[0] for r in fresh)],
        )
    return answers


# A parked row whose time came, or a lane's unparked row that is due (not
# leased, or its lease ran out): the lanes' index steps over the leased rows
# only, and the due times need no index of their own, which every claim and
# settle would write.
_ANYTHING_DUE = f"""{_EACH_LANE}
SELECT EXISTS (SELECT 1 FROM queue INDEXED BY queue_parked WHERE parked != 0 AND due <= ?1)
    OR EXISTS (SELECT 1 FROM lanes JOIN queue INDEXED BY queue_fair ON queue.lane = lanes.lane
        WHERE lanes.lane IS NOT NULL AND queue.parked = 0 AND queue.due <= ?1)
"""


def anything_due(conn: sqlite3.Connection) -> bool:
    """Whether a row is claimable now; a read, so it needs no write lock."""
    return bool(conn.execute(_ANYTHING_DUE, (time.time(),)).fetchone()[0])


Claimed = tuple[bytes, int, str, float, str]  # payload, attempt, lease token, claimed at, call id


def claim(conn: sqlite3.Connection, limit: int, lease: float, tally: Tally) -> list[Claimed]:
    """Lease up to ``limit`` due calls, lanes in turn; their payloads are still encoded.

    The caller decodes them and sets aside, by the call id given with each,
    any whose payload holds no call. A call past its ``expire_at`` that never
    started is set aside here (state ``expired``), and the queue row of a
    cancelled call, or of a call row that is gone, is deleted: neither is
    handed out, and more rows are claimed in their place.
    """
    now = time.time()
    secret = uuid.uuid4().hex
    claimed: list[Claimed] = []
    for lane, attempt in conn.execute(_UNPARK, (now,)).fetchall():
        if attempt == 0:
            tally.move(lane, "delayed", "waiting")
    for _ in range(_CLAIM_ROUNDS):
        want = limit - len(claimed)
        shares: dict[int, tuple[str, str | None]] = {}
        picked = fair_order(_candidates(conn, now, want, shares), want)
        if not picked:
            break
        marks = ",".join("?" * len(picked))
        leased = conn.execute(_LEASE.format(marks), [now + lease, secret, *picked]).fetchall()
        by_seq = {seq: (call, attempt) for seq, call, attempt in leased}
        started = {
            call: (payload, call_id)
            for call, payload, call_id in conn.execute(
                _STARTS.format(marks), [now, secret, *picked]
            )
        }
        dropped = False
        for seq in picked:
            call, attempt = by_seq[seq]
            lane, share = shares[seq]
            found = started.get(call)
            if found is None:
                # Expired now, or cancelled (counted by the cancel), or gone.
                if conn.execute(_EXPIRES, (EXPIRED, now, now, call, now)).rowcount:
                    tally.move(lane, share, "dead")
                elif share is None:  # leased before: counted as running
                    tally.move(lane, "running", None)
                conn.execute("DELETE FROM queue WHERE seq = ?", (seq,))
                dropped = True
                continue
            if share is not None:  # a lease that ran out was counted as running already
                tally.move(lane, share, "running")
            token = f"{seq}.{attempt}.{call}.{secret}.{lane}"
            claimed.append((found[0], attempt, token, now, found[1]))
        if not dropped or len(claimed) >= limit:
            break
    return claimed


def _candidates(
    conn: sqlite3.Connection, now: float, want: int, shares: dict[int, tuple[str, str | None]]
) -> list[tuple[str, int]]:
    """(lane, seq) of the due rows ``fair_order`` may pick ``want`` of, oldest first.

    Each lane is read for its share of ``want`` first, and only the lanes that
    had that many are read for more if the others fell short: with 50
    functions, a claim of 50 reads 50 rows, not 2500. ``shares`` gets each
    row's lane and share.
    """
    lanes = [found[0] for found in conn.execute(_LANES)]
    if not lanes:
        return []
    each = -(-want // len(lanes))
    due = {lane: conn.execute(_LANE_DUE, (lane, now, each)).fetchall() for lane in lanes}
    if each < want and sum(map(len, due.values())) < want:
        for lane, rows in due.items():
            if len(rows) == each:
                due[lane] = conn.execute(_LANE_DUE, (lane, now, want)).fetchall()
    candidates = []
    for lane, rows in due.items():
        for seq, share in rows:
            shares[seq] = (lane, share)
            candidates.append((lane, seq))
    return sorted(candidates, key=lambda c: c[1])
