"""One thread that owns a SQLite connection and runs the queue's reads on it.

Reads (a call's record, the dead letters, the counts) come from the event
loop and their results go back to it, one at a time, outside any
transaction. Opening the connection also puts the schema in place, so
``start`` is where a file that cannot be opened is reported. Writes do not
come here: ``_sqlite_writer`` makes them on a process of its own.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from pyfaas.errors import QueueUnavailable
from pyfaas.queue.backends import _sqlite_store as store

Step = Callable[[sqlite3.Connection], Any]
_Job = tuple[Step, asyncio.Future[Any]]
_STOP = None


class SqliteThread:
    """Serialises access to one connection; ``start`` opens it, ``stop`` closes it."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="pyfaas-sqlite", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Queued before the thread starts: if opening the file fails, the thread
        # fails every queued job and exits, and this one must be among them.
        opened = self.run(lambda conn: None)
        self._thread.start()
        await opened

    async def stop(self) -> None:
        self._jobs.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def run(self, fn: Step) -> asyncio.Future[Any]:
        """Run ``fn`` on the connection; the future holds its result."""
        assert self._loop is not None, "SqliteThread.start() was not awaited"
        future = self._loop.create_future()
        self._jobs.put((fn, future))
        return future

    def _serve(self) -> None:
        try:
            conn = store.connect(self._path, self._busy_timeout)
        except (sqlite3.Error, OSError) as exc:
            self._fail_all(self._unavailable(exc))
            return
        try:
            while (job := self._jobs.get()) is not _STOP:
                fn, future = job
                try:
                    self._answer(future, fn(conn), None)
                except sqlite3.Error as exc:
                    self._answer(future, None, self._unavailable(exc))
                except Exception as exc:
                    self._answer(future, None, exc)
        finally:
            conn.close()
        self._fail_all(QueueUnavailable(f"sqlite queue {self._path} is closed"))

    def _fail_all(self, error: Exception) -> None:
        """Answer every job still waiting, so no caller hangs on a dead thread."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                self._answer(job[1], None, error)

    def _answer(self, future: asyncio.Future[Any], result: Any, error: Exception | None) -> None:
        assert self._loop is not None
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_resolve, future, result, error)

    def _unavailable(self, exc: sqlite3.Error | OSError) -> QueueUnavailable:
        return QueueUnavailable(f"sqlite queue {self._path}: {exc}")


def _resolve(future: asyncio.Future[Any], result: Any, error: Exception | None) -> None:
    if future.done():
        return  # the caller gave up (cancelled)
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
