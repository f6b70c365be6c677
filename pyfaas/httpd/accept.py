"""The accept loop of the HTTP server, which keeps accepting whatever ``accept`` says.

It is the server's own and not ``loop.create_server``'s because neither event
loop gets out of descriptors well: uvloop (libuv) then accepts and closes the
waiting connections unseen, and asyncio logs every failed accept. Here a
failure such as ``EMFILE`` closes one connection that waits for a head (see
``capacity``), pauses accepting briefly (the connections wait in the kernel's
backlog, none is reset) and is logged once per interval with its count.
Admission at the connection cap is decided here too, before a transport is made.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from functools import partial
from typing import Any

from pyfaas.httpd.capacity import Notice, ServerState
from pyfaas.httpd.wire import refusal

BATCH = 128  # connections taken per readiness event, as asyncio's backlog loop
# Out of descriptors or memory: wait before trying again (asyncio waits 1 s).
_RESOURCE = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
RETRY_AFTER_SHED = 0.05  # seconds: a closed connection frees its descriptor on the next turn
RETRY_DELAY = 1.0
# The peer gave up before it was accepted: nothing to report.
_GONE = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM}
_FULL = refusal(503, "server at its connection limit")


class Acceptor:
    """Accepts connections on a listening socket and hands them to protocols."""

    def __init__(
        self, sock: socket.socket, state: ServerState, factory: Callable[[], asyncio.Protocol]
    ) -> None:
        self._sock = sock
        self._state = state
        self._factory = factory
        self._loop = asyncio.get_running_loop()
        self._retry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listening = False
        self._errors = Notice(state.log, _describe_errors)

    def start(self) -> None:
        self._retry = None
        if not self._listening:
            self._listening = True
            self._loop.add_reader(self._sock.fileno(), self._ready)

    def stop(self) -> None:
        self._pause()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._errors.close()

    def abort(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _pause(self) -> None:
        if self._listening:
            self._listening = False
            self._loop.remove_reader(self._sock.fileno())

    def _ready(self) -> None:
        state = self._state
        for _ in range(BATCH):
            if state.pending and not state.waiting and state.at_cap():
                # The ones being connected may be closed to make room once they are:
                # leave the rest in the backlog until the next turn.
                return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _GONE:
                    continue
                self._failed(exc)
                return
            if state.admit():
                self._connect(conn)
            else:
                _refuse(conn)

    def _failed(self, exc: OSError) -> None:
        # Keep the loop alive: make room if the cause is descriptors, and come back.
        shed = exc.errno in _RESOURCE and self._state.shed_one()
        self._errors.note(f"{exc.strerror or exc}")
        self._pause()
        delay = RETRY_AFTER_SHED if shed else RETRY_DELAY
        self._retry = self._loop.call_later(delay, self.start)

    def _connect(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        fd, token = conn.fileno(), object()
        self._state.pending[fd] = token
        task = self._loop.create_task(self._loop.connect_accepted_socket(self._factory, conn))
        self._tasks.add(task)
        task.add_done_callback(partial(self._connected, conn, fd, token))

    def _connected(
        self, conn: socket.socket, fd: int, token: object, task: asyncio.Task[Any]
    ) -> None:
        self._tasks.discard(task)
        pending = self._state.pending
        if pending.get(fd) is token:  # not taken out by its protocol (nor the fd reused)
            del pending[fd]
        if task.cancelled() or task.exception() is not None:
            conn.close()  # reset before its transport was made, or the server stopped


def _refuse(conn: socket.socket) -> None:
    try:
        conn.setblocking(False)
        conn.send(_FULL)
    except OSError:
        pass
    conn.close()


def _describe_errors(counts: dict[str, int]) -> str:
    causes = ", ".join(f"{why} ({n}x)" for why, n in counts.items())
    return f"accepting connections failed: {causes}; accepting again shortly"
