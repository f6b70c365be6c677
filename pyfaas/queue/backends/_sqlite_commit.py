"""Group commit: the operations that arrived together, run in one SQLite transaction.

The writer process (``_sqlite_serve``) hands each batch to ``Runner.run``,
which answers every operation in order (``_sqlite_wire``). A transaction
holding a put, a replay or a cancel commits with ``synchronous=FULL``, so a
put's answer means the call is on disk (and a cancel's that it never runs);
one of claims, lease extensions, settles, purges and prunes only is not
fsynced (in WAL mode it survives the process being killed, and a power loss
can only undo a lease or a settle, so a call runs again; it is never lost).
Claims alone, while nothing is due, take no write lock at all: polling an
empty queue must not hold back the gateway's puts.

Every operation raises, if it does, before it changes anything, so one that
fails leaves the others of its transaction untouched; what the operations
moved between the per-function counts is written once, before the commit
(``_sqlite_store.Tally``). A failed transaction answers each of its
operations with SQLite's message, led by "queue storage is full" when the
disk is: it rolls back, so what was committed before stays, and the next
one succeeds once there is room again.

SQLite's own checkpoint would run inside a commit, holding back the answers
of that batch for the milliseconds it takes: the runner's connection turns
it off, and the writer process calls ``checkpoint`` when it sees fit.
"""

from __future__ import annotations

import contextlib
import marshal
import sqlite3
from typing import Any

from pyfaas.errors import Conflict, NotFound
from pyfaas.queue.backends import _sqlite_settle as settle
from pyfaas.queue.backends import _sqlite_steer as steer
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.backends import _sqlite_wire as wire
from pyfaas.queue.backends._sqlite_wire import (
    CANCEL,
    CLAIM,
    CONFLICT,
    DONE,
    DURABLE,
    EXTEND,
    KNOWN,
    LOST,
    MARK_RUNNING,
    NOTHING_CLAIMED,
    PRUNE,
    PURGE,
    PUT,
    REPLAY,
    REPLAY_WHERE,
    SETTLE,
    STORED,
    VALUE,
    failed,
    message,
)
from pyfaas.queue.envelope import CallState

# Bound by assignment, not imported by name: CPython compiles a method call on an
# imported name as an attribute load that makes a bound method, once per frame.
_LENGTH = wire.LENGTH


class Runner:
    """Runs the operations that arrived together in one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._synchronous = "FULL"  # as store.connect leaves it

    @classmethod
    def open(cls, path: str, busy_timeout: float) -> Runner:
        conn = store.connect(path, busy_timeout)
        try:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            # Once a checkpoint let the WAL start over, cut its file back to
            # this, so what a burst wrote does not stay on the disk.
            conn.execute(f"PRAGMA journal_size_limit = {4 << 20}")
        except sqlite3.Error:
            conn.close()
            raise
        return cls(conn)

    def checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self._conn.close()

    def run(self, ops: list[tuple[Any, ...]]) -> bytes:
        conn = self._conn
        if all(op[0] == CLAIM for op in ops) and not store.anything_due(conn):
            return NOTHING_CLAIMED * len(ops)
        level = "FULL" if any(op[0] in DURABLE for op in ops) else "NORMAL"
        try:
            if level != self._synchronous:
                conn.execute(f"PRAGMA synchronous = {level}")
                self._synchronous = level
            conn.execute("BEGIN IMMEDIATE")
            try:
                tally = store.Tally()
                answers = self._answers(ops, tally)
                tally.write(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            return failed(_describe(exc)) * len(ops)
        return b"".join(answers)

    def _answers(self, ops: list[tuple[Any, ...]], tally: store.Tally) -> list[bytes]:
        # The puts go in first, all with one statement each way (store.put_rows).
        rows = [op[1:] for op in ops if op[0] == PUT]
        stored = iter(store.put_rows(self._conn, rows, tally) if rows else [])
        answers = []
        for op in ops:
            if op[0] == PUT:
                answer = next(stored)
                if isinstance(answer, str):
                    answers.append(message(CONFLICT, answer))
                else:
                    answers.append(STORED if answer else KNOWN)
                continue
            try:
                answers.append(self._one(op, tally))
            except NotFound as exc:
                answers.append(message(LOST, str(exc)))
            except Conflict as exc:
                answers.append(message(CONFLICT, str(exc)))
            except sqlite3.Error:
                raise
            except Exception as exc:  # a malformed operation fails alone
                answers.append(failed(repr(exc)))
        return answers

    def _one(self, op: tuple[Any, ...], tally: store.Tally) -> bytes:
        code, *args = op
        conn = self._conn
        if code == CLAIM:
            limit, lease = args
            return _value(store.claim(conn, limit, lease, tally))
        if code == EXTEND:
            settle.extend(conn, *args)
        elif code == SETTLE:
            token, call_id, state, fields, retry_at = args
            state_ = None if state is None else CallState(state)
            settle.settle(conn, token, call_id, state_, fields, retry_at, tally)
        elif code == MARK_RUNNING:
            settle.mark_running(conn, *args)
        elif code == REPLAY:
            steer.replay(conn, args[0], tally)
        elif code == CANCEL:
            steer.cancel(conn, args[0], tally)
        elif code == REPLAY_WHERE:
            return _value(steer.replay_where(conn, tuple(args[0]), tally))
        elif code == PURGE:
            return _value(steer.purge(conn, tuple(args[0]), tally))
        elif code == PRUNE:
            return _value(steer.prune(conn, args[0], tally))
        else:
            raise ValueError(f"unknown operation {code}")
        return DONE


def _value(found: Any) -> bytes:
    value = marshal.dumps(found)
    return VALUE + _LENGTH.pack(len(value)) + value


def _describe(exc: sqlite3.Error) -> str:
    """SQLite's message, led by what it means for the queue where it is not plain."""
    code: int = getattr(exc, "sqlite_errorcode", 0)  # absent on errors of the module itself
    if code & 0xFF == sqlite3.SQLITE_FULL:
        # What an operator must act on: the state directory's filesystem is full.
        return f"queue storage is full ({exc})"
    return str(exc)
