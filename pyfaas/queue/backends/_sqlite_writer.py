"""Every write of the SQLite queue, made by a process of its own.

A write costs some 25-250 µs of Python (decoding, binding, statements,
commits) for every call, and in the gateway or the queue-worker that time
is taken from the same interpreter lock their HTTP work needs: under load
the two take turns instead of running side by side on two cores. ``Writer``
hands each operation to a child process (``python -m
pyfaas.queue.backends._sqlite_writer FD PATH TIMEOUT``) over a socket pair.
The child runs whatever has arrived in one transaction (group commit) and
answers each operation, in order. A transaction holding a put or a replay
commits with ``synchronous=FULL``, so a put's answer means the call is on
disk; one of claims, lease extensions and settles only is not fsynced (in
WAL mode it survives the process being killed, and a power loss can only
undo a lease or a settle, so a call runs again; it is never lost). Claims
alone, while nothing is due, take no write lock at all: polling an empty
queue must not hold back the gateway's puts.

Frames, parent to child: ``u32 length + marshal((op, *arguments))``
(marshal, because it costs the sender a microsecond and both ends run the
same interpreter). A put travels as the row it is stored as, and claimed
calls come back as their stored payloads and call ids: encoding and decoding
a call stay with the callers, outside the commit cycle every waiting caller
shares. A claimed row whose payload holds no call (a corrupt row) is buried
by the caller with a settle, as a dead letter saying "undecodable payload".
Answers, child to parent, one per frame: ``1`` stored,
``0`` already stored (the call id is known), ``-`` done, ``V`` with ``u32
length + marshal(value)`` (claims), or ``N`` (lease lost, no such dead
letter) and ``E`` (the transaction failed) with ``u16 length`` and a UTF-8
message (SQLite's, led by "queue storage is full" when the disk is: the
transaction rolls back, so what was committed before stays, and the next
one succeeds once there is room again). Every operation raises, if it does,
before it changes anything, so one that fails leaves the others of its
transaction untouched.

If the child dies, the operations waiting on it fail with
``QueueUnavailable`` (a worker's settle is retried by the lease running
out) and the next operation starts a new child; a put among them fails with
``QueueUncertain``, since the child may have committed it before it went
(the gateway answers 503 with its ``X-Call-Id``, never a false 202, and a
put again with that id stores nothing more). SQLite's own checkpoint would run inside a commit,
holding back the answers of that batch for the milliseconds it takes; the
child turns it off and checkpoints after answering, when its socket is idle
(or, under unbroken load, every ``4 * CHECKPOINT_EVERY`` operations).
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections import deque
from typing import Any

from pyfaas._children import die_with_parent
from pyfaas.errors import NotFound, QueueUnavailable, QueueUncertain
from pyfaas.queue._records import UNDECODABLE, decode_call
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.envelope import CallState, Delivery, Outcome, QueuedCall

_LENGTH = struct.Struct(">I")
_MESSAGE = struct.Struct(">H")
STORED, KNOWN, DONE, VALUE, LOST, FAILED = b"1", b"0", b"-", b"V", b"N", b"E"
READ_SIZE = 1 << 20
# The child's reads: recv() allocates its whole size first, and 1 MiB costs
# some 15 µs a read more than 64 KiB (larger frames just take more reads).
RECV_SIZE = 1 << 16
CHECKPOINT_EVERY = 2000
# The longest a small durable batch waits for more (see _gather); at most half
# the last durable commit's time, so a fast disk waits less.
LINGER = 0.001

# Operation codes, the first item of every frame.
PUT, CLAIM, EXTEND, SETTLE, MARK_RUNNING, REPLAY = range(6)
_DURABLE = frozenset({PUT, REPLAY})

_Waiter = asyncio.Future[Any] | None  # None: nobody waits for that answer


class Writer:
    """The parent side: each method sends one operation and waits for its answer."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._link: _Link | None = None
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Start the child now, so that the first operation does not wait for it."""
        await self._connected()

    async def put(self, call: QueuedCall) -> bool:
        # The row is made here, not in the child: encoding the payload would
        # lengthen every commit cycle, which all waiting callers share.
        try:
            stored: bool = await self._send((PUT, *store.row(call)))
        except _WriterLost as exc:
            # Sent and never answered: the child may have committed it first.
            raise QueueUncertain(f"{exc}; call {call.call_id} may be stored", call.call_id) from exc
        return stored

    async def claim(self, limit: int, lease: float) -> list[Delivery]:
        """Up to ``limit`` calls; rows that hold none are set aside, and more are claimed."""
        while True:
            # Decoded here, not in the child, for the same reason a put's row is made here.
            claimed: list[store.Claimed] = await self._send((CLAIM, limit, lease))
            deliveries, undecodable = [], []
            for payload, attempt, token, at, call_id in claimed:
                call = decode_call(payload)
                if call is None or call.call_id != call_id:
                    undecodable.append((token, call_id))
                else:
                    deliveries.append(Delivery(call, attempt, token, at))
            if undecodable:
                await asyncio.gather(*(self._set_aside(*row) for row in undecodable))
            if deliveries or not undecodable:
                return deliveries

    async def _set_aside(self, token: str, call_id: str) -> None:
        """Bury a claimed row that holds no call, as a dead letter saying so."""
        outcome = _outcome(Outcome(error=UNDECODABLE))
        # Not set aside now, its lease runs out and the next claim tries again.
        with contextlib.suppress(QueueUnavailable):
            await self._send((SETTLE, token, call_id, CallState.DEAD.value, outcome, None))

    async def extend(self, delivery: Delivery, lease: float) -> None:
        await self._send((EXTEND, delivery.token, delivery.call.call_id, lease), soon=True)

    async def settle(
        self, delivery: Delivery, state: CallState | None, outcome: Outcome, retry_at: float | None
    ) -> None:
        """``state`` None: the final state the outcome calls for (an ack)."""
        value = None if state is None else state.value
        op = (SETTLE, delivery.token, delivery.call.call_id, value, _outcome(outcome), retry_at)
        await self._send(op, soon=True)  # nobody's next step waits for a settle

    async def mark_running(self, delivery: Delivery, now: float) -> None:
        """Sent, not waited for: it commits with whatever the child runs next."""
        op = (MARK_RUNNING, delivery.token, delivery.call.call_id, delivery.attempt, now)
        (await self._connected()).send(marshal.dumps(op), wait=False, soon=True)

    async def replay(self, call_id: str) -> None:
        await self._send((REPLAY, call_id))

    async def close(self) -> None:
        """Let the child finish what it has and exit (it sees the end of its socket)."""
        if self._link is not None:
            await self._link.close()
            self._link = None

    async def _send(self, op: tuple[Any, ...], *, soon: bool = False) -> Any:
        link = await self._connected()
        waiter = link.send(marshal.dumps(op), soon=soon)
        assert waiter is not None
        return await waiter

    async def _connected(self) -> _Link:
        link = self._link
        if link is not None and not link.closing:
            return link
        async with self._starting:
            if self._link is None or self._link.closing:
                self._link = await _Link.start(self._path, self._busy_timeout)
            return self._link


class _WriterLost(QueueUnavailable):
    """The child went away with operations unanswered; each may have been committed."""


class _Link:
    """One child process and the operations waiting on it, answered in order."""

    def __init__(
        self,
        path: str,
        child: asyncio.subprocess.Process,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._path = path
        self._child = child
        self._writer = writer
        self._waiting: deque[_Waiter] = deque()
        self._held: list[bytes] = []  # frames to write at the end of this turn
        self._ended = False  # close() sent the end of the stream
        self._reading = asyncio.create_task(self._read_answers(reader))

    @classmethod
    async def start(cls, path: str, busy_timeout: float) -> _Link:
        ours, theirs = socket.socketpair()
        try:
            argv = [str(theirs.fileno()), path, str(busy_timeout)]
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                *argv,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                # Its socket's end stops it too, but only once what is queued there
                # has run: a parent killed outright takes it along at once.
                preexec_fn=die_with_parent(),
            )
        except OSError as exc:
            ours.close()
            raise QueueUnavailable(f"sqlite queue {path}: cannot start its writer: {exc}") from exc
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        return cls(path, child, reader, writer)

    @property
    def closing(self) -> bool:
        return self._ended or self._writer.is_closing()

    def send(
        self, payload: bytes, *, wait: bool = True, soon: bool = False
    ) -> asyncio.Future[Any] | None:
        """Send one frame; ``soon``: with the others of this turn of the loop, in one write."""
        if self.closing:
            raise QueueUnavailable(f"sqlite queue {self._path}: its writer process exited")
        loop = asyncio.get_running_loop()
        waiter = loop.create_future() if wait else None
        self._waiting.append(waiter)
        self._held.append(_LENGTH.pack(len(payload)) + payload)
        if not soon:
            # Written at once: the child starts on this operation while this
            # process still prepares the next (a put or a claim is waited for).
            self._flush()
        elif len(self._held) == 1:
            loop.call_soon(self._flush)
        return waiter

    def _flush(self) -> None:
        if self._held and not self.closing:
            self._writer.write(b"".join(self._held))
        self._held.clear()

    async def close(self) -> None:
        """Send what is held, then the end of the stream; the child answers the rest and exits."""
        self._flush()
        self._ended = True
        if not self._writer.is_closing():
            self._writer.write_eof()
        await asyncio.gather(self._reading, return_exceptions=True)

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        error = "its writer process exited"
        try:
            while chunk := await reader.read(READ_SIZE):
                buffer = self._settle(buffer + chunk)
        except OSError as exc:
            error = f"its writer process is unreachable: {exc}"
        finally:
            self._writer.close()
            failed = _WriterLost(f"sqlite queue {self._path}: {error}")
            while self._waiting:
                waiter = self._waiting.popleft()
                if waiter is not None and not waiter.done():
                    waiter.set_exception(failed)
            await self._child.wait()

    def _settle(self, buffer: bytes) -> bytes:
        """Answer the waiting operations from ``buffer``; return what is left of it."""
        at = 0
        while at < len(buffer):
            kind = buffer[at : at + 1]
            answer: Any
            if kind in (STORED, KNOWN, DONE):
                answer = True if kind == STORED else False if kind == KNOWN else None
                at += 1
            else:
                sized = _LENGTH if kind == VALUE else _MESSAGE
                start = at + 1 + sized.size
                if len(buffer) < start:
                    break
                (size,) = sized.unpack_from(buffer, at + 1)
                if len(buffer) < start + size:
                    break
                body = buffer[start : start + size]
                at = start + size
                if kind == VALUE:
                    answer = marshal.loads(body)
                elif kind == LOST:
                    answer = NotFound(body.decode(errors="replace"))
                else:
                    message = body.decode(errors="replace")
                    answer = QueueUnavailable(f"sqlite queue {self._path}: {message}")
            waiter = self._waiting.popleft()
            if waiter is None or waiter.done():
                continue  # nobody waits, or the caller gave up; the write stands all the same
            if isinstance(answer, Exception):
                waiter.set_exception(answer)
            else:
                waiter.set_result(answer)
        return buffer[at:]


def _outcome(outcome: Outcome) -> tuple[Any, ...]:
    """The outcome's fields in the order ``Outcome`` takes them."""
    return (
        outcome.status_code,
        outcome.error,
        outcome.callback_status,
        outcome.callback_attempts,
        outcome.started_at,
        outcome.finished_at,
    )


# -- the child ---------------------------------------------------------------


def serve(fd: int, path: str, busy_timeout: float) -> None:
    """Run the operations arriving on ``fd`` until it closes, answering each."""
    sock = socket.socket(fileno=fd)
    runner: _Runner | None = None
    with contextlib.suppress(sqlite3.Error, OSError):
        runner = _Runner.open(path, busy_timeout)  # at once; else for the first batch
    buffer = b""
    since = 0
    last, took = 0, 0.0  # the previous durable batch: its size, its seconds
    try:
        while data := sock.recv(RECV_SIZE):
            buffer += data
            ops, buffer = _frames(buffer)
            if not ops:
                continue
            durable = any(op[0] in _DURABLE for op in ops)
            open_ = True
            if durable and len(ops) < (want := (last + len(ops)) // 2):
                ops, buffer, open_ = _gather(sock, ops, buffer, want, min(took / 2, LINGER))
            if runner is None:
                # Opened for the first batch, and again after a failed open (a
                # lock held too long is no reason to refuse every later call).
                try:
                    runner = _Runner.open(path, busy_timeout)
                except (sqlite3.Error, OSError) as exc:
                    sock.sendall(_failed(f"cannot open: {exc}") * len(ops))
                    continue
            started = time.perf_counter()
            sock.sendall(runner.run(ops))
            if durable:
                last, took = len(ops), time.perf_counter() - started
            if not open_:
                break
            since += len(ops)
            if since >= CHECKPOINT_EVERY and (
                since >= 4 * CHECKPOINT_EVERY or not select.select([sock], [], [], 0)[0]
            ):
                runner.checkpoint()
                since = 0
    finally:
        if runner is not None:
            runner.close()
        sock.close()


def _gather(
    sock: socket.socket, ops: list[tuple[Any, ...]], buffer: bytes, want: int, linger: float
) -> tuple[list[tuple[Any, ...]], bytes, bool]:
    """Wait up to ``linger`` seconds for ``want`` operations in all; False once the socket closed.

    Without it, the callers waiting on a durable commit split into a large
    batch and a small one that cost a whole fsync each: with ten callers the
    batches ran 1, 9, 1, 9 and the fsyncs, not the callers, set the pace.
    Waiting for half of what the last two batches held evens them out.
    """
    deadline = time.perf_counter() + linger
    while len(ops) < want and (left := deadline - time.perf_counter()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data = sock.recv(RECV_SIZE)
        if not data:
            return ops, buffer, False
        more, buffer = _frames(buffer + data)
        ops += more
    return ops, buffer, True


def _frames(buffer: bytes) -> tuple[list[tuple[Any, ...]], bytes]:
    ops: list[tuple[Any, ...]] = []
    at = 0
    while len(buffer) - at >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(buffer, at)
        end = at + _LENGTH.size + size
        if len(buffer) < end:
            break
        ops.append(marshal.loads(buffer[at + _LENGTH.size : end]))
        at = end
    return ops, buffer[at:]


_NOTHING_CLAIMED = VALUE + _LENGTH.pack(len(marshal.dumps([]))) + marshal.dumps([])


class _Runner:
    """Runs the operations that arrived together in one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._synchronous = "FULL"  # as store.connect leaves it

    @classmethod
    def open(cls, path: str, busy_timeout: float) -> _Runner:
        conn = store.connect(path, busy_timeout)
        try:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
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
            return _NOTHING_CLAIMED * len(ops)
        level = "FULL" if any(op[0] in _DURABLE for op in ops) else "NORMAL"
        try:
            if level != self._synchronous:
                conn.execute(f"PRAGMA synchronous = {level}")
                self._synchronous = level
            conn.execute("BEGIN IMMEDIATE")
            try:
                answers = self._answers(ops)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            return _failed(_describe(exc)) * len(ops)
        return b"".join(answers)

    def _answers(self, ops: list[tuple[Any, ...]]) -> list[bytes]:
        # The puts go in first, all with one statement each way (store.put_rows).
        rows = [op[1:] for op in ops if op[0] == PUT]
        stored = iter(store.put_rows(self._conn, rows) if rows else [])
        answers = []
        for op in ops:
            if op[0] == PUT:
                answers.append(STORED if next(stored) else KNOWN)
                continue
            try:
                answers.append(self._one(op))
            except NotFound as exc:
                answers.append(_message(LOST, str(exc)))
            except sqlite3.Error:
                raise
            except Exception as exc:  # a malformed operation fails alone
                answers.append(_failed(repr(exc)))
        return answers

    def _one(self, op: tuple[Any, ...]) -> bytes:
        code, *args = op
        conn = self._conn
        if code == CLAIM:
            limit, lease = args
            value = marshal.dumps(store.claim(conn, limit, lease))
            return VALUE + _LENGTH.pack(len(value)) + value
        if code == EXTEND:
            store.extend(conn, *args)
        elif code == SETTLE:
            token, call_id, state, outcome, retry_at = args
            if state is None:
                store.ack(conn, token, call_id, Outcome(*outcome))
            else:
                store.settle(conn, token, call_id, CallState(state), Outcome(*outcome), retry_at)
        elif code == MARK_RUNNING:
            store.mark_running(conn, *args)
        elif code == REPLAY:
            store.replay(conn, *args)
        else:
            raise ValueError(f"unknown operation {code}")
        return DONE


def _describe(exc: sqlite3.Error) -> str:
    """SQLite's message, led by what it means for the queue where it is not plain."""
    code: int = getattr(exc, "sqlite_errorcode", 0)  # absent on errors of the module itself
    if code & 0xFF == sqlite3.SQLITE_FULL:
        # What an operator must act on: the state directory's filesystem is full.
        return f"queue storage is full ({exc})"
    return str(exc)


def _message(kind: bytes, message: str) -> bytes:
    text = message.encode()[:1000]
    return kind + _MESSAGE.pack(len(text)) + text


def _failed(message: str) -> bytes:
    return _message(FAILED, message)


if __name__ == "__main__":
    # A Ctrl-C or a stop meant for the parent's process group reaches this one
    # too; it ends when its socket does instead, after running and answering
    # what it already has, while the parent drains its in-flight calls.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
    os._exit(0)
