"""Log lines with Go's ``log`` prefix (``2026/11/23 21:55:00 Forking fprocess.``).

The provider stores a replica's stdout and stderr as its logs, and OpenFaaS
users (and the certifier) read them expecting the Go watchdog's lines. Writes
go straight to the file descriptor, unbuffered, so a line is in the log the
moment it is written.
"""

from __future__ import annotations

import contextlib
import os
import time


class GoLog:
    """Writes timestamped lines to one file descriptor."""

    def __init__(self, fd: int = 1) -> None:
        self._fd = fd

    def __call__(self, message: str) -> None:
        self.write(message.encode("utf-8", "replace"))

    def write(self, message: bytes) -> None:
        prefix = time.strftime("%Y/%m/%d %H:%M:%S ").encode()
        line = prefix + message.rstrip(b"\n") + b"\n"
        # A closed log pipe must not take the function down with it.
        with contextlib.suppress(OSError):
            os.write(self._fd, line)

    def raw(self, data: bytes) -> None:
        """Write bytes as they are (``write_debug`` echoes function output so)."""
        with contextlib.suppress(OSError):
            os.write(self._fd, data)
