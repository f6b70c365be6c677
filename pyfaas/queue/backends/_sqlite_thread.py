"""One thread that owns a SQLite connection and runs the queue's reads on it.

Reads (a call's record, the dead letters, the counts) run one at a time,
outside any transaction, on a single-thread executor. Opening the connection
also puts the schema in place, so ``start`` is where a file that cannot be
opened is reported. Writes do not come here: ``_sqlite_writer`` makes them
on a process of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyfaas.errors import QueueUnavailable
from pyfaas.queue.backends import _sqlite_store as store

Step = Callable[[sqlite3.Connection], Any]


class SqliteThread:
    """Serialises access to one connection; ``start`` opens it, ``stop`` closes it."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyfaas-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def start(self) -> None:
        open_ = lambda: store.connect(self._path, self._busy_timeout)  # noqa: E731
        self._conn = await self._on_thread(open_)

    async def stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._on_thread(conn.close)  # after every read already queued
        self._executor.shutdown(wait=False)

    async def run(self, fn: Step) -> Any:
        """Run ``fn`` on the connection and return its result."""
        conn = self._conn
        if conn is None:
            raise QueueUnavailable(f"sqlite queue {self._path} is closed")
        return await self._on_thread(lambda: fn(conn))

    async def _on_thread(self, fn: Callable[[], Any]) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except (sqlite3.Error, OSError) as exc:
            raise QueueUnavailable(f"sqlite queue {self._path}: {exc}") from exc
