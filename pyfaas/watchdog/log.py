"""Log lines with Go's ``log`` prefix (``2026/11/23 21:55:00 Forking fprocess.``).

The provider stores a replica's stdout and stderr as its logs, and OpenFaaS
users (and the certifier) read them expecting the Go watchdog's lines. Lines
are written straight to the file descriptor, never held by a stdio buffer.
Inside the event loop the lines of one loop turn go out in one write at the
end of that turn (the classic mode logs two lines per call, and a system call
per line was a measurable part of a call's cost); outside it, at once.
``flush`` writes anything still held, for the last turn before the loop stops.
"""

from __future__ import annotations

import asyncio
import os
import time


class GoLog:
    """Writes timestamped lines to one file descriptor."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._pending: list[bytes] = []
        self._second = -1
        self._prefix = b""

    def __call__(self, message: str) -> None:
        self.write(message.encode("utf-8", "replace"))

    def write(self, message: bytes) -> None:
        self._emit(self._stamp() + message.rstrip(b"\n") + b"\n")

    def raw(self, data: bytes) -> None:
        """Write bytes as they are (``write_debug`` echoes function output so)."""
        self._emit(data)

    def flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._write(data)

    def _emit(self, data: bytes) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            self._write(data)
            return
        if not self._pending:
            loop.call_soon(self.flush)
        self._pending.append(data)

    def _stamp(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y/%m/%d %H:%M:%S ", time.localtime(now)).encode()
        return self._prefix

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:
            pass  # a closed log pipe must not take the function down with it
