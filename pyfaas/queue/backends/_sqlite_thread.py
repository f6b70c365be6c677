"""One thread that owns a SQLite connection and runs every statement on it.

Jobs come from the event loop and their results go back to it. Puts are
group-committed: while one transaction is being synced to disk, the puts that
arrive meanwhile pile up, and the next transaction stores them all, so one
fsync serves many callers. Each caller still hears back only after the
transaction holding its call committed.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyfaas.errors import QueueUnavailable
from pyfaas.queue.backends import _sqlite_store as store
from pyfaas.queue.envelope import QueuedCall

MAX_BATCH = 512


@dataclass
class _Job:
    run: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]


@dataclass
class _Put:
    call: QueuedCall
    future: asyncio.Future[Any]


_STOP = object()
_Result = tuple[asyncio.Future[Any], Any, Exception | None]


class SqliteThread:
    """Serialises access to one connection; ``start`` opens it, ``stop`` closes it."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._jobs: queue.SimpleQueue[_Job | _Put | object] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._serve, name="pyfaas-sqlite", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        await self.run(lambda conn: None)  # the first job opens the connection

    async def stop(self) -> None:
        self._jobs.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    async def run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        future = self._new_future()
        self._jobs.put(_Job(fn, future))
        return await future

    async def put(self, call: QueuedCall) -> bool:
        future = self._new_future()
        self._jobs.put(_Put(call, future))
        stored: bool = await future
        return stored

    def _new_future(self) -> asyncio.Future[Any]:
        assert self._loop is not None, "SqliteThread.start() was not awaited"
        return self._loop.create_future()

    def _serve(self) -> None:
        try:
            self._conn = store.connect(self._path, self._busy_timeout)
        except sqlite3.Error as exc:
            self._fail_all(self._unavailable(exc))
            return
        try:
            self._loop_jobs(self._conn)
        finally:
            self._conn.close()

    def _loop_jobs(self, conn: sqlite3.Connection) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                break
            if isinstance(job, _Job):
                self._run_job(conn, job)
                continue
            assert isinstance(job, _Put)
            puts, later = self._gather_puts(job)
            self._run_puts(conn, puts)
            for other in later:
                if other is _STOP:
                    return
                assert isinstance(other, _Job)
                self._run_job(conn, other)
        self._fail_all(QueueUnavailable(f"sqlite queue {self._path} is closed"))

    def _gather_puts(self, first: _Put) -> tuple[list[_Put], list[object]]:
        """Every put already waiting joins this batch; other jobs run after it."""
        puts, later = [first], []
        while len(puts) < MAX_BATCH:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Put):
                puts.append(job)
            else:
                later.append(job)
                if job is _STOP:
                    break
        return puts, later

    def _run_job(self, conn: sqlite3.Connection, job: _Job) -> None:
        try:
            result = job.run(conn)
        except sqlite3.Error as exc:
            self._settle([(job.future, None, self._unavailable(exc))])
        except Exception as exc:
            self._settle([(job.future, None, exc)])
        else:
            self._settle([(job.future, result, None)])

    def _run_puts(self, conn: sqlite3.Connection, puts: list[_Put]) -> None:
        try:
            stored = store.put_many(conn, [put.call for put in puts])
        except sqlite3.Error as exc:
            error = self._unavailable(exc)
            self._settle([(put.future, None, error) for put in puts])
        else:
            self._settle([(put.future, ok, None) for put, ok in zip(puts, stored, strict=True)])

    def _fail_all(self, error: Exception) -> None:
        """Answer every job still waiting, so no caller hangs on a dead thread."""
        pending: list[_Result] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Job | _Put):
                pending.append((job.future, None, error))
        self._settle(pending)

    def _settle(self, results: list[_Result]) -> None:
        # One wake-up of the event loop per batch, not one per caller.
        assert self._loop is not None
        if results and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_resolve, results)

    def _unavailable(self, exc: sqlite3.Error) -> QueueUnavailable:
        return QueueUnavailable(f"sqlite queue {self._path}: {exc}")


def _resolve(results: list[_Result]) -> None:
    for future, result, error in results:
        if future.done():
            continue  # the caller gave up (cancelled)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
