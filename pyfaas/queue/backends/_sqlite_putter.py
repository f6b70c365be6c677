"""Puts on a process of their own: the SQLite writer of the gateway's hot path.

A put costs the writer some 25-60 µs of Python (decoding, binding, the
statements) for every call, and in the gateway that time is taken from the
same interpreter lock the HTTP front needs: under load the two take turns
instead of running side by side on two cores. ``Putter`` hands each call to
a child process (``python -m pyfaas.queue.backends._sqlite_putter FD PATH``)
over a socket pair, and the child stores whatever has arrived in one
``synchronous=FULL`` transaction, so its answer means the call is on disk.

Frames, both ways: the parent sends ``u32 length + marshal(fields)``, the
call's fields as a tuple (marshal, because it costs the gateway under a
microsecond and both ends run the same interpreter; the child does the
JSON encoding of the stored record); the child answers every frame, in
order, with one byte: ``1`` stored, ``0`` already stored (the call id is
known), or ``E`` followed by ``u16 length`` and a UTF-8 message when the
transaction failed. If the child dies, the puts waiting on it fail with
``QueueUnavailable`` (the caller gets a 503, never a false 202) and the
next put starts a new child.

SQLite's own checkpoint would run inside a commit, holding back the answers
of that batch for the milliseconds it takes; the child turns it off and
checkpoints after answering, when its socket is idle (or, under unbroken
load, every ``4 * CHECKPOINT_EVERY`` calls).
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
from collections import deque

from pyfaas.errors import QueueUnavailable
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.envelope import QueuedCall

_LENGTH = struct.Struct(">I")
_MESSAGE = struct.Struct(">H")
STORED, KNOWN, FAILED = b"1", b"0", b"E"
READ_SIZE = 1 << 20
CHECKPOINT_EVERY = 2000


class Putter:
    """The parent side: ``put`` sends a call and waits for the child's answer."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._link: _Link | None = None
        self._starting = asyncio.Lock()

    async def put(self, call: QueuedCall) -> bool:
        link = self._link
        if link is None or link.closing:
            link = await self._connect()
        return await link.send(marshal.dumps(_fields(call)))

    async def _connect(self) -> _Link:
        async with self._starting:
            if self._link is None or self._link.closing:
                self._link = await _Link.start(self._path, self._busy_timeout)
            return self._link

    async def close(self) -> None:
        """Let the child store what it has and exit (it sees the end of its socket)."""
        if self._link is not None:
            await self._link.close()
            self._link = None


class _Link:
    """One child process and the puts waiting on it, answered in order."""

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
        self._waiting: deque[asyncio.Future[bool]] = deque()
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
        return self._writer.is_closing()

    async def send(self, payload: bytes) -> bool:
        if self.closing:
            raise QueueUnavailable(f"sqlite queue {self._path}: its writer process exited")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        # Written at once, not gathered per turn of the loop: the child starts
        # storing the first call while this process still parses the next ones.
        self._writer.write(_LENGTH.pack(len(payload)) + payload)
        return await future

    async def close(self) -> None:
        self._writer.close()
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
            failed = QueueUnavailable(f"sqlite queue {self._path}: {error}")
            while self._waiting:
                future = self._waiting.popleft()
                if not future.done():
                    future.set_exception(failed)
            await self._child.wait()

    def _settle(self, buffer: bytes) -> bytes:
        """Answer the waiting puts from ``buffer``; return what is left of it."""
        at = 0
        while at < len(buffer):
            outcome: bool | Exception
            if buffer[at : at + 1] == FAILED:
                start = at + 1 + _MESSAGE.size
                if len(buffer) < start:
                    break
                (size,) = _MESSAGE.unpack_from(buffer, at + 1)
                if len(buffer) < start + size:
                    break
                message = buffer[start : start + size].decode(errors="replace")
                outcome = QueueUnavailable(f"sqlite queue {self._path}: {message}")
                at = start + size
            else:
                outcome = buffer[at : at + 1] == STORED
                at += 1
            future = self._waiting.popleft()
            if future.done():
                continue  # the caller gave up; the call is stored all the same
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        return buffer[at:]


def _fields(
    call: QueuedCall,
) -> tuple[str, str, str, str, str, str, list[tuple[str, str]], bytes, str | None, float]:
    """The call's fields in the order ``QueuedCall`` takes them."""
    return (
        call.call_id,
        call.function,
        call.namespace,
        call.method,
        call.path,
        call.query,
        call.headers,
        call.body,
        call.callback_url,
        call.submitted_at,
    )


# -- the child ---------------------------------------------------------------


def serve(fd: int, path: str, busy_timeout: float) -> None:
    """Store the calls arriving on ``fd`` until it closes, answering each."""
    sock = socket.socket(fileno=fd)
    conn: sqlite3.Connection | None = None
    buffer = b""
    since = 0
    try:
        while data := sock.recv(READ_SIZE):
            buffer += data
            rows, buffer = _frames(buffer)
            if not rows:
                continue
            if conn is None:
                # Opened for the first batch, and again after a failed open (a
                # lock held too long is no reason to refuse every later call).
                try:
                    conn = store.connect(path, busy_timeout)  # synchronous=FULL
                    conn.execute("PRAGMA wal_autocheckpoint = 0")
                except (sqlite3.Error, OSError) as exc:
                    sock.sendall(_failed(f"cannot open: {exc}") * len(rows))
                    continue
            sock.sendall(_store(conn, rows))
            since += len(rows)
            if since >= CHECKPOINT_EVERY and (
                since >= 4 * CHECKPOINT_EVERY or not select.select([sock], [], [], 0)[0]
            ):
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                since = 0
    finally:
        if conn is not None:
            conn.close()
        sock.close()


def _frames(buffer: bytes) -> tuple[list[store.Row], bytes]:
    rows: list[store.Row] = []
    at = 0
    while len(buffer) - at >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(buffer, at)
        end = at + _LENGTH.size + size
        if len(buffer) < end:
            break
        rows.append(store.row(QueuedCall(*marshal.loads(buffer[at + _LENGTH.size : end]))))
        at = end
    return rows, buffer[at:]


def _store(conn: sqlite3.Connection, rows: list[store.Row]) -> bytes:
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            stored = store.put_rows(conn, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        return _failed(str(exc)) * len(rows)
    return b"".join(STORED if ok else KNOWN for ok in stored)


def _failed(message: str) -> bytes:
    text = message.encode()[:1000]
    return FAILED + _MESSAGE.pack(len(text)) + text


if __name__ == "__main__":
    # A Ctrl-C or a stop meant for the parent's process group reaches this one
    # too; it ends when its socket does instead, after storing and answering
    # what it already has, while the parent drains its in-flight calls.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
    os._exit(0)
