"""The writer process: read the frames arriving on its socket, run them in batches, answer.

Started by the SQLite queue's ``Writer`` as ``python -m
pyfaas.queue.backends._sqlite_writer FD PATH TIMEOUT``, which runs ``serve``
until the socket's other end closes, then exits. Whatever has arrived is one
batch (``_sqlite_commit``); a small durable batch first waits a moment for
more (``_gather``), so that callers waiting on an fsync share it.

Checkpoints run here, after a batch is answered, when the socket is idle
(or, under unbroken load, every ``4 * CHECKPOINT_EVERY`` operations): the
answers never wait for one. They are due after ``CHECKPOINT_EVERY``
operations, or once the WAL has grown by ``WAL_CHECKPOINT_BYTES`` since the
last one, whichever comes first: a settle writes several pages (the record,
its history, the result, the counts), and a WAL left to grow unchecked on a
small disk can fill it; then no checkpoint can make room (it must grow the
database file), and the queue stays full after the disk has room again.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sqlite3
import time
from typing import Any

from pyfaas.queue.backends._sqlite_commit import Runner
from pyfaas.queue.backends._sqlite_wire import DURABLE, failed, frames

# The child's reads: recv() allocates its whole size first, and 1 MiB costs
# some 15 µs a read more than 64 KiB (larger frames just take more reads).
RECV_SIZE = 1 << 16
CHECKPOINT_EVERY = 2000
WAL_CHECKPOINT_BYTES = 4 << 20
# The longest a small durable batch waits for more (see _gather); at most half
# the last durable commit's time, so a fast disk waits less.
LINGER = 0.001


def serve(fd: int, path: str, busy_timeout: float) -> None:
    """Run the operations arriving on ``fd`` until it closes, answering each."""
    sock = socket.socket(fileno=fd)
    runner: Runner | None = None
    with contextlib.suppress(sqlite3.Error, OSError):
        runner = Runner.open(path, busy_timeout)  # at once; else for the first batch
    buffer = b""
    since = 0
    wal = f"{path}-wal"
    wal_mark = 0  # the WAL's size at the last checkpoint
    last, took = 0, 0.0  # the previous durable batch: its size, its seconds
    try:
        while data := sock.recv(RECV_SIZE):
            buffer += data
            ops, buffer = frames(buffer)
            if not ops:
                continue
            durable = any(op[0] in DURABLE for op in ops)
            open_ = True
            if durable and len(ops) < (want := (last + len(ops)) // 2):
                ops, buffer, open_ = _gather(sock, ops, buffer, want, min(took / 2, LINGER))
            if runner is None:
                # Opened for the first batch, and again after a failed open (a
                # lock held too long is no reason to refuse every later call).
                try:
                    runner = Runner.open(path, busy_timeout)
                except (sqlite3.Error, OSError) as exc:
                    sock.sendall(failed(f"cannot open: {exc}") * len(ops))
                    continue
            started = time.perf_counter()
            sock.sendall(runner.run(ops))
            if durable:
                last, took = len(ops), time.perf_counter() - started
            if not open_:
                break
            since += len(ops)
            size = _size(wal)
            wal_mark = min(wal_mark, size)  # the WAL restarted and was cut back
            grown = size - wal_mark >= WAL_CHECKPOINT_BYTES
            if (since >= CHECKPOINT_EVERY or grown) and (
                since >= 4 * CHECKPOINT_EVERY
                or size - wal_mark >= 4 * WAL_CHECKPOINT_BYTES
                or not select.select([sock], [], [], 0)[0]
            ):
                runner.checkpoint()
                since, wal_mark = 0, _size(wal)
    finally:
        if runner is not None:
            runner.close()
        sock.close()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


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
        more, buffer = frames(buffer + data)
        ops += more
    return ops, buffer, True
