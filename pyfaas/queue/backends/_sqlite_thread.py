"""One thread that owns a SQLite connection and runs every statement on it.

Jobs come from the event loop and their results go back to it. Writes are
group-committed: while one transaction runs, the writes that arrive
meanwhile (claims, settles, lease extensions) pile up, and the next
transaction runs them all. Each write runs in its own savepoint, so one that
fails (a lost lease) leaves the others in the batch untouched. Each caller
hears back only after the transaction holding its write committed.

A write nobody waits for (``write_later``) is held until the next batch and
committed with it.

Batches commit without an fsync (``synchronous=NORMAL``): in WAL mode such a
commit survives the process being killed, and a power loss can only undo a
lease or a settle, so the call runs again; it is never lost. A batch holding
a durable write (a replay) commits with ``synchronous=FULL``. Puts, the hot
path, do not come here: ``_sqlite_putter`` stores them on a process of its
own.
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

MAX_BATCH = 512

Step = Callable[[sqlite3.Connection], Any]


@dataclass
class _Read:
    run: Step
    future: asyncio.Future[Any]


@dataclass
class _Write:
    run: Step
    future: asyncio.Future[Any] | None  # None: nobody waits, it rides along
    claim: bool = False  # a claim: no transaction at all while nothing is due
    durable: bool = True  # False: a power loss may undo it (claims, settles)
    # False for a write that raises only before it changes anything: it needs
    # no savepoint of its own (two statements fewer).
    savepoint: bool = True


_STOP = object()
_Result = tuple[asyncio.Future[Any] | None, Any, Exception | None]


class SqliteThread:
    """Serialises access to one connection; ``start`` opens it, ``stop`` closes it."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._jobs: queue.SimpleQueue[_Read | _Write | object] = queue.SimpleQueue()
        self._held: list[_Write] = []  # writes waiting to ride along (thread-only)
        self._conn: sqlite3.Connection | None = None
        self._synchronous = "FULL"  # the connection's setting (store.connect)
        self._thread = threading.Thread(target=self._serve, name="pyfaas-sqlite", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Queued before the thread starts: if opening the file fails, the thread
        # fails every queued job and exits, and this one must be among them.
        opened = self._new_future()
        self._jobs.put(_Read(lambda conn: None, opened))
        self._thread.start()
        await opened

    async def stop(self) -> None:
        self._jobs.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    async def run(self, fn: Step) -> Any:
        """Run ``fn`` alone, outside any transaction (reads)."""
        future = self._new_future()
        self._jobs.put(_Read(fn, future))
        return await future

    async def write(
        self, fn: Step, *, claim: bool = False, durable: bool = True, savepoint: bool = True
    ) -> Any:
        """Run ``fn`` in the next group-committed transaction; return once it committed."""
        future = self._new_future()
        self._jobs.put(_Write(fn, future, claim, durable, savepoint))
        return await future

    def write_later(self, fn: Step) -> None:
        """Commit ``fn`` with the next batch; its errors are dropped."""
        self._jobs.put(_Write(fn, None, durable=False))

    def _new_future(self) -> asyncio.Future[Any]:
        assert self._loop is not None, "SqliteThread.start() was not awaited"
        return self._loop.create_future()

    def _serve(self) -> None:
        try:
            self._conn = store.connect(self._path, self._busy_timeout)
        except (sqlite3.Error, OSError) as exc:
            self._fail_all(self._unavailable(exc))
            return
        try:
            self._loop_jobs(self._conn)
            if self._held:
                self._run_batch(self._conn, [])
        finally:
            self._conn.close()
        self._fail_all(QueueUnavailable(f"sqlite queue {self._path} is closed"))

    def _loop_jobs(self, conn: sqlite3.Connection) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            if isinstance(job, _Read):
                self._run_read(conn, job)
                continue
            assert isinstance(job, _Write)
            writes, later = self._gather(job)
            self._run_batch(conn, writes)
            for other in later:
                if other is _STOP:
                    return
                assert isinstance(other, _Read)
                self._run_read(conn, other)

    def _gather(self, first: _Write) -> tuple[list[_Write], list[object]]:
        """Every write already waiting joins this batch; reads run after it."""
        writes: list[_Write] = [first]
        later: list[object] = []
        while len(writes) < MAX_BATCH:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Write):
                writes.append(job)
            else:
                later.append(job)
                if job is _STOP:
                    break
        return writes, later

    def _run_read(self, conn: sqlite3.Connection, job: _Read) -> None:
        try:
            result = job.run(conn)
        except sqlite3.Error as exc:
            self._settle([(job.future, None, self._unavailable(exc))])
        except Exception as exc:
            self._settle([(job.future, None, exc)])
        else:
            self._settle([(job.future, result, None)])

    def _run_batch(self, conn: sqlite3.Connection, writes: list[_Write]) -> None:
        waited = [w for w in writes if w.future is not None]
        self._held.extend(w for w in writes if w.future is None)
        if not waited and len(self._held) < MAX_BATCH and writes:
            return  # only ride-alongs: keep them for the next batch
        if waited and all(w.claim for w in waited) and not store.anything_due(conn):
            # Polling an empty queue must not take the write lock from the gateway.
            self._settle([(w.future, [], None) for w in waited])
            return
        jobs, self._held = [*self._held, *waited], []
        durable = any(job.durable for job in jobs)
        try:
            results = self._commit(conn, jobs, durable)
        except sqlite3.Error as exc:
            error = self._unavailable(exc)
            self._settle([(job.future, None, error) for job in waited])
        else:
            self._settle(results)

    def _commit(self, conn: sqlite3.Connection, jobs: list[_Write], durable: bool) -> list[_Result]:
        results: list[_Result] = []
        self._set_synchronous(conn, "FULL" if durable else "NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for job in jobs:
                results.append((job.future, *_step(conn, job.run, job.savepoint)))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def _set_synchronous(self, conn: sqlite3.Connection, level: str) -> None:
        if level != self._synchronous:
            conn.execute(f"PRAGMA synchronous = {level}")
            self._synchronous = level

    def _fail_all(self, error: Exception) -> None:
        """Answer every job still waiting, so no caller hangs on a dead thread."""
        pending: list[_Result] = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Read | _Write):
                pending.append((job.future, None, error))
        self._settle(pending)

    def _settle(self, results: list[_Result]) -> None:
        # One wake-up of the event loop per batch, not one per caller.
        assert self._loop is not None
        results = [result for result in results if result[0] is not None]
        if results and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_resolve, results)

    def _unavailable(self, exc: sqlite3.Error | OSError) -> QueueUnavailable:
        return QueueUnavailable(f"sqlite queue {self._path}: {exc}")


def _step(conn: sqlite3.Connection, run: Step, savepoint: bool) -> tuple[Any, Exception | None]:
    """One write in its own savepoint; a database error fails the whole batch."""
    if not savepoint:
        try:
            return run(conn), None
        except sqlite3.Error:
            raise
        except Exception as exc:
            return None, exc
    conn.execute("SAVEPOINT step")
    try:
        result = run(conn)
    except sqlite3.Error:
        raise
    except Exception as exc:
        conn.execute("ROLLBACK TO step")
        conn.execute("RELEASE step")
        return None, exc
    conn.execute("RELEASE step")
    return result, None


def _resolve(results: list[_Result]) -> None:
    for future, result, error in results:
        if future is None or future.done():
            continue  # nobody waits, or the caller gave up (cancelled)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
