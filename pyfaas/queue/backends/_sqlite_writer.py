"""Every write of the SQLite queue, made by a process of its own: the parent's side.

A write costs some 25-250 µs of Python (decoding, binding, statements,
commits) for every call, and in the gateway or the queue-worker that time
is taken from the same interpreter lock their HTTP work needs: under load
the two take turns instead of running side by side on two cores. ``Writer``
hands each operation to a child process (``python -m
pyfaas.queue.backends._sqlite_writer FD PATH TIMEOUT``, which runs
``_sqlite_serve.serve``) over a socket pair, in the frames of
``_sqlite_wire``. The child runs whatever has arrived in one transaction
(group commit, ``_sqlite_commit``) and answers each operation, in order.

A claimed row whose payload holds no call (a corrupt row) is buried by the
caller with a settle, as a dead letter saying "undecodable payload".

If the child dies, the operations waiting on it fail with
``QueueUnavailable`` (a worker's settle is retried by the lease running
out) and the next operation starts a new child; a put among them fails with
``QueueUncertain``, since the child may have committed it before it went
(the gateway answers 503 with its ``X-Call-Id``, never a false 202, and a
put again with that id stores nothing more).
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from typing import Any

from pyfaas._children import die_with_parent
from pyfaas.errors import Conflict, NotFound, QueueUnavailable, QueueUncertain
from pyfaas.queue._records import UNDECODABLE, decode_call
from pyfaas.queue.backends import _sqlite_steer as steer
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.backends import _sqlite_wire as wire
from pyfaas.queue.backends._sqlite_wire import (
    CANCEL,
    CLAIM,
    CONFLICT,
    DONE,
    EXTEND,
    KNOWN,
    LOST,
    MARK_RUNNING,
    PRUNE,
    PURGE,
    PUT,
    REPLAY,
    REPLAY_WHERE,
    SETTLE,
    STORED,
    VALUE,
    outcome_fields,
)
from pyfaas.queue.base import DeadLetterFilter
from pyfaas.queue.envelope import CallState, Delivery, Outcome, QueuedCall

READ_SIZE = 1 << 20
# Bound by assignment, not imported by name: CPython compiles a method call on an
# imported name as an attribute load that makes a bound method, once per frame.
_LENGTH = wire.LENGTH
_MESSAGE = wire.MESSAGE

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
        outcome = outcome_fields(Outcome(error=UNDECODABLE, reason=UNDECODABLE))
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
        fields = outcome_fields(outcome)
        op = (SETTLE, delivery.token, delivery.call.call_id, value, fields, retry_at)
        await self._send(op, soon=True)  # nobody's next step waits for a settle

    async def mark_running(self, delivery: Delivery, now: float) -> None:
        """Sent, not waited for: it commits with whatever the child runs next."""
        op = (MARK_RUNNING, delivery.token, delivery.call.call_id, delivery.attempt, now)
        (await self._connected()).send(marshal.dumps(op), wait=False, soon=True)

    async def replay(self, call_id: str) -> None:
        await self._send((REPLAY, call_id))

    async def cancel(self, call_id: str) -> None:
        await self._send((CANCEL, call_id))

    async def replay_where(self, where: DeadLetterFilter) -> int:
        replayed: int = await self._send((REPLAY_WHERE, steer.where_fields(where)))
        return replayed

    async def purge(self, where: DeadLetterFilter) -> int:
        purged: int = await self._send((PURGE, steer.where_fields(where)))
        return purged

    async def prune(self, before: float) -> int:
        """Some of the calls finished before ``before``: ``0`` once there are none left."""
        pruned: int = await self._send((PRUNE, before))
        return pruned

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
                elif kind == CONFLICT:
                    answer = Conflict(body.decode(errors="replace"))
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


if __name__ == "__main__":
    from pyfaas.queue.backends._sqlite_serve import serve

    # A Ctrl-C or a stop meant for the parent's process group reaches this one
    # too; it ends when its socket does instead, after running and answering
    # what it already has, while the parent drains its in-flight calls.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
    os._exit(0)
