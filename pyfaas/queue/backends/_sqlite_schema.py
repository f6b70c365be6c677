"""The SQLite queue's tables, and the migration of a file made by an older version.

``calls`` holds every call ever accepted with its record (dead letters stay
there, ``dead_at`` set); ``queue`` the calls still to be settled, ordered by
``seq``; ``results`` the functions' answers kept by ``ack`` and ``bury``,
by the row id of their call (``calls.id``);
``lane_counts`` how many calls each fair-claim lane (``_records.fair_key``:
a function, or every callback delivery together) has waiting, delayed,
running, retrying or dead, kept in the transaction of every write that moves a call,
so that ``stats`` reads a few rows instead of counting 100k. Listing
(``calls``) pages through ``calls_by_function`` (a function's calls by row
id, newest first, written by the put alone); a development version also
kept ``calls_by_state``, which every claim and settle rewrote: dropped. ``lane`` on a
call and its queue row is that key: claims take the lanes in turn through
the ``queue_fair`` index.

A queue row whose time has not come is ``parked`` (1: a delayed call, 2: a
retry waiting out its delay): claims scan only the unparked rows of a lane,
so 100k delayed calls cost them nothing, and each claim first unparks the
rows whose time came (``queue_parked`` holds only parked rows, by due time).

``ensure`` runs inside the ``BEGIN IMMEDIATE`` of every connection's
opening: the first opener of an older file adds the missing columns (as
``PRAGMA table_info`` tells), fills them from what the rows already hold and
counts the states once; later openers find nothing to do. ``VERSION``
(``PRAGMA user_version``) marks the changes that columns alone do not show.
"""

from __future__ import annotations

import sqlite3

from pyfaas.queue._records import BURIED, CALLBACKS, UNDECODABLE

TABLES = """
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
"""

# Added to the tables above, old or new; each default is what a row written
# before the column existed means (or what a row written by another program does).
_ADDED = {
    "calls": (
        ("lane", "TEXT NOT NULL DEFAULT ''"),
        ("fingerprint", "TEXT NOT NULL DEFAULT ''"),
        ("not_before", "REAL NOT NULL DEFAULT 0"),
        ("expire_at", "REAL NOT NULL DEFAULT 0"),
        ("reason", "TEXT"),
        # Attempt.to_json() objects joined by commas, oldest first: a retry appends
        # one without parsing the others; "[" + history + "]" is the JSON array.
        # A final settle's attempt is the record's own columns (_sqlite_settle).
        ("history", "TEXT"),
    ),
    "queue": (("lane", "TEXT NOT NULL DEFAULT ''"), ("parked", "INTEGER NOT NULL DEFAULT 0")),
}

# Rows of calls written before lanes: a callback delivery's id ends in ".callback".
_FILL_LANES = f"""
UPDATE calls SET lane = CASE WHEN call_id LIKE '%.callback' THEN '{CALLBACKS}'
    ELSE function || '.' || namespace END WHERE function != '';
UPDATE queue SET lane = coalesce((SELECT lane FROM calls WHERE calls.id = queue.call), '');
UPDATE calls SET reason = CASE WHEN error = '{UNDECODABLE}' THEN '{UNDECODABLE}'
    ELSE '{BURIED}' END WHERE dead_at IS NOT NULL AND reason IS NULL;
"""

_STEERING = """
DROP INDEX IF EXISTS queue_lane;
DROP INDEX IF EXISTS calls_delayed;
CREATE INDEX IF NOT EXISTS queue_fair ON queue (lane, parked);
CREATE INDEX IF NOT EXISTS queue_parked ON queue (due) WHERE parked != 0;
DROP INDEX IF EXISTS queue_due;
DROP INDEX IF EXISTS queue_leased;
CREATE INDEX IF NOT EXISTS queue_call ON queue (call);
CREATE INDEX IF NOT EXISTS calls_finished ON calls (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS calls_by_function ON calls (function, id);
DROP INDEX IF EXISTS calls_by_state;
CREATE TABLE IF NOT EXISTS results (
    call INTEGER PRIMARY KEY,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    finished_at REAL
);
"""

# How many calls of each lane wait to start (``waiting``), wait for their
# not_before (``delayed``: their rows parked), run (``running``: their rows
# leased), wait to be tried again (``retrying``) or are dead letters
# (``dead``: buried or expired). The writes that move a call keep them
# (``_sqlite_store.Tally``), once per transaction and lane.
# Two shares are counters that only grow, kept by ``ack`` and ``bury`` in
# their transaction: ``processed`` (settled for good) and ``callback_failures``
# (in the row of the failed callback's function). A share is a row, not a
# column, so a file from before them needs no migration: it counts from 0.
COUNTS = """
CREATE TABLE lane_counts (
    lane TEXT NOT NULL,
    share TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (lane, share)
) WITHOUT ROWID;
INSERT INTO lane_counts
SELECT lane, CASE WHEN state = 'queued' THEN 'waiting'
    WHEN state IN ('dead', 'expired') THEN 'dead' ELSE state END, count(*)
FROM calls WHERE state IN ('queued', 'delayed', 'retrying', 'dead', 'expired')
GROUP BY 1, 2;
"""
RUNNING = """
INSERT INTO lane_counts SELECT lane, 'running', count(*) FROM queue
WHERE token IS NOT NULL GROUP BY lane;
"""
# The layout's version (``PRAGMA user_version``). 2: running calls are counted
# in ``lane_counts``, and neither the leased rows nor the due times have an
# index of their own: each cost a page or two of every transaction of claims
# and settles, for the counts and for an idle claim's look (which the lanes'
# index answers). A file counted before gets its running calls counted once.
VERSION = 2


# ``results`` as it was first made, keyed by the call id: a second index, and
# a page of it written by most settles. Now keyed by the call's row id.
_RESULTS_BY_ROW = """
CREATE TABLE results_by_row (
    call INTEGER PRIMARY KEY,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    finished_at REAL
);
INSERT INTO results_by_row SELECT calls.id, r.status, r.headers, r.body, r.truncated, r.size,
    r.finished_at FROM results AS r JOIN calls ON calls.call_id = r.call_id;
DROP TABLE results;
ALTER TABLE results_by_row RENAME TO results;
"""


def ensure(conn: sqlite3.Connection) -> None:
    """Create the tables, or bring an older file's up to date; inside the caller's transaction."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    _run(conn, TABLES)
    added = False
    for table, columns in _ADDED.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                added = True
    if added:
        _run(conn, _FILL_LANES)
    _run(conn, _STEERING)
    if "call_id" in {row[1] for row in conn.execute("PRAGMA table_info(results)")}:
        _run(conn, _RESULTS_BY_ROW)
    counted = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lane_counts'"
    ).fetchone()
    if counted is None:
        _run(conn, COUNTS + RUNNING)  # after the lanes are filled: counted from the rows
        # A development version counted by triggers into "counts": never released.
        for trigger in ("calls_counted", "calls_left", "calls_entered", "calls_uncounted"):
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        conn.execute("DROP TABLE IF EXISTS counts")
    elif version < VERSION:
        conn.execute("DELETE FROM lane_counts WHERE share = 'running'")
        _run(conn, RUNNING)
    if version < VERSION:
        conn.execute(f"PRAGMA user_version = {VERSION}")


def _run(conn: sqlite3.Connection, script: str) -> None:
    """Each statement of ``script``; not executescript, which would commit the
    caller's transaction."""
    text = ""
    for line in script.splitlines(keepends=True):
        text += line
        if sqlite3.complete_statement(text):
            conn.execute(text)
            text = ""
