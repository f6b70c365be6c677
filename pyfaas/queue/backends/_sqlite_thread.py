"""One thread that owns a SQLite connection and runs every statement on it.

Jobs come from the event loop and their results go back to it. Writes are
group-committed: while one transaction is being synced to disk, the writes
that arrive meanwhile (puts, claims, settles, lease extensions) pile up, and
the next transaction runs them all, so one fsync serves many callers. Each
write runs in its own savepoint, so one that fails (a lost lease) leaves the
others in the batch untouched. Each caller hears back only after the
transaction holding its write committed.

A write nobody waits for (``write_later``) is not worth an fsync of its own:
it is held until the next batch and committed with it.

Every batch commits without an fsync (``synchronous=NORMAL``): in WAL mode
such a commit survives the process being killed. A batch holding a durable
write (a put, a replay) is then made durable by ``WalSyncer``, one
``fdatasync`` of the WAL file on a thread of its own, and only then are its
callers answered; meanwhile this thread goes on with the next batch. Claims,
lease extensions and settles are answered at once: a power loss can only
undo a lease or a settle, so the call runs again; it is never lost. The next
sync makes the earlier commits durable too. Without a WAL file (an
in-memory database) durable batches commit with ``synchronous=FULL``.
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
from pyfaas.queue.backends._sqlite_sync import WalSyncer
from pyfaas.queue.envelope import QueuedCall

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


@dataclass
class _Put:
    """A put: puts waiting together are stored with a few statements in all."""

    call: QueuedCall
    future: asyncio.Future[Any]


_STOP = object()
_Result = tuple[asyncio.Future[Any] | None, Any, Exception | None]


class SqliteThread:
    """Serialises access to one connection; ``start`` opens it, ``stop`` closes it."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._jobs: queue.SimpleQueue[_Read | _Write | _Put | object] = queue.SimpleQueue()
        self._held: list[_Write] = []  # writes waiting to ride along (thread-only)
        self._conn: sqlite3.Connection | None = None
        self._synchronous = "FULL"  # the connection's setting (store.connect)
        self._syncer: WalSyncer | None = None
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

    async def write(self, fn: Step, *, claim: bool = False, durable: bool = True) -> Any:
        """Run ``fn`` in the next group-committed transaction; return once it committed."""
        future = self._new_future()
        self._jobs.put(_Write(fn, future, claim, durable))
        return await future

    async def put(self, call: QueuedCall) -> bool:
        """Store ``call`` in the next group-committed transaction (``store.put_many``)."""
        future = self._new_future()
        self._jobs.put(_Put(call, future))
        stored: bool = await future
        return stored

    def write_later(self, fn: Step) -> None:
        """Commit ``fn`` with the next batch; its errors are dropped."""
        self._jobs.put(_Write(fn, None, durable=False))

    def _new_future(self) -> asyncio.Future[Any]:
        assert self._loop is not None, "SqliteThread.start() was not awaited"
        return self._loop.create_future()

    def _serve(self) -> None:
        try:
            self._conn = store.connect(self._path, self._busy_timeout)
            self._syncer = self._open_syncer(self._conn)
        except (sqlite3.Error, OSError) as exc:
            if self._conn is not None:
                self._conn.close()
            self._fail_all(self._unavailable(exc))
            return
        try:
            self._loop_jobs(self._conn)
            if self._held:
                self._run_batch(self._conn, [])
        finally:
            if self._syncer is not None:
                self._syncer.stop()
            self._conn.close()
        self._fail_all(QueueUnavailable(f"sqlite queue {self._path} is closed"))

    def _open_syncer(self, conn: sqlite3.Connection) -> WalSyncer | None:
        """Sync the WAL on a thread of its own; None when there is no WAL file."""
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        filename = conn.execute("PRAGMA database_list").fetchone()[2]
        if str(mode).lower() != "wal" or not filename:
            return None
        self._set_synchronous(conn, "NORMAL")
        return WalSyncer(f"{filename}-wal", self._settle_synced)

    def _settle_synced(self, results: list[_Result], error: Exception | None) -> None:
        if error is not None:
            failed = QueueUnavailable(f"sqlite queue {self._path}: sync failed: {error}")
            results = [(future, None, failed) for future, _, _ in results]
        self._settle(results)

    def _loop_jobs(self, conn: sqlite3.Connection) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            if isinstance(job, _Read):
                self._run_read(conn, job)
                continue
            assert isinstance(job, _Write | _Put)
            writes, later = self._gather(job)
            self._run_batch(conn, writes)
            for other in later:
                if other is _STOP:
                    return
                assert isinstance(other, _Read)
                self._run_read(conn, other)

    def _gather(self, first: _Write | _Put) -> tuple[list[_Write | _Put], list[object]]:
        """Every write already waiting joins this batch; reads run after it."""
        writes: list[_Write | _Put] = [first]
        later: list[object] = []
        while len(writes) < MAX_BATCH:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, _Write | _Put):
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

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Write | _Put]) -> None:
        puts = [job for job in batch if isinstance(job, _Put)]
        writes = [job for job in batch if isinstance(job, _Write)]
        waited = [w for w in writes if w.future is not None]
        self._held.extend(w for w in writes if w.future is None)
        if not puts and not waited and len(self._held) < MAX_BATCH and writes:
            return  # only ride-alongs: keep them for the next batch
        if not puts and waited and all(w.claim for w in waited) and not store.anything_due(conn):
            # Polling an empty queue must not take the write lock from the gateway.
            self._settle([(w.future, [], None) for w in waited])
            return
        jobs, self._held = [*self._held, *waited], []
        durable = bool(puts) or any(job.durable for job in jobs)
        try:
            results = self._commit(conn, puts, jobs, durable)
        except sqlite3.Error as exc:
            error = self._unavailable(exc)
            failed: list[_Put | _Write] = [*puts, *waited]
            self._settle([(job.future, None, error) for job in failed])
        else:
            if durable and self._syncer is not None:
                self._syncer.after_sync(results)
            else:
                self._settle(results)

    def _commit(
        self, conn: sqlite3.Connection, puts: list[_Put], jobs: list[_Write], durable: bool
    ) -> list[_Result]:
        results: list[_Result] = []
        if self._syncer is None:
            self._set_synchronous(conn, "FULL" if durable else "NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if puts:
                stored = store.put_many(conn, [put.call for put in puts])
                results += [(put.future, ok, None) for put, ok in zip(puts, stored, strict=True)]
            for job in jobs:
                results.append((job.future, *_step(conn, job.run)))
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
            if isinstance(job, _Read | _Write | _Put):
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


def _step(conn: sqlite3.Connection, run: Step) -> tuple[Any, Exception | None]:
    """One write in its own savepoint; a database error fails the whole batch."""
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
