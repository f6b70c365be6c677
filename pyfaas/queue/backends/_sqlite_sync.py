"""Make committed SQLite transactions durable off the writer's thread: one fsync for many.

In WAL mode a commit only appends frames to the ``-wal`` file; what makes it
survive a power loss is the sync of that file (what ``synchronous=FULL``
does inside every commit). Done inside the commit, the writer thread waits
for the disk and no other transaction can be written meanwhile. Here the
writer commits with ``synchronous=NORMAL`` and hands the batch's callers to
this syncer, whose own thread runs one ``fdatasync`` of the WAL file for
every commit made before it started, then answers those callers. While the
disk works the writer is already committing the next batch, and the next
sync covers all of it.

What ``NORMAL`` leaves out is exactly that per-commit sync: SQLite still
syncs the WAL before a checkpoint, the database after it, and the WAL's
header when the file is reused. So a caller answered by this syncer holds
the same guarantee as under ``FULL``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

Settle = Callable[[list[Any], Exception | None], None]


class WalSyncer:
    """Syncs one WAL file on its own thread and settles callers after each sync."""

    def __init__(self, wal_path: str, settle: Settle) -> None:
        # The file exists once the connection is in WAL mode and has written;
        # a connection keeps it (never deleted while any connection is open).
        self._fd = os.open(wal_path, os.O_RDONLY | os.O_CLOEXEC)
        _sync_directory(os.path.dirname(wal_path) or ".")
        self._settle = settle
        self._pending: list[Any] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="pyfaas-sqlite-sync", daemon=True)
        self._thread.start()

    def after_sync(self, results: list[Any]) -> None:
        """Settle ``results`` once a sync that started after this call has finished."""
        with self._cond:
            self._pending.extend(results)
            self._cond.notify()

    def stop(self) -> None:
        """Sync and settle what is pending, then end the thread and close the file."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()
        os.close(self._fd)

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                batch, self._pending = self._pending, []
                if not batch and self._stopping:
                    return
            error: Exception | None = None
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                error = exc
            self._settle(batch, error)


def _sync_directory(path: str) -> None:
    """Make the WAL file's own directory entry durable (once, at start)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
