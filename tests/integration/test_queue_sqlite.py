"""The SQLite queue across processes: crashes, a second process, a bad path, corrupt rows.

A disk that fills up is in ``test_queue_sqlite_full``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyfaas.errors import QueueUnavailable
from pyfaas.queue import CallState, Outcome, open_queue
from pyfaas.queue._records import UNDECODABLE
from pyfaas.queue.backends.sqlite import SqliteQueue
from tests.factories import queued_call

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

# Puts calls without end, printing each id once its put returned, and claims a
# few under a 1 s lease along the way; the test kills it at some point.
_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pyfaas.queue import QueuedCall
    from pyfaas.queue.backends.sqlite import SqliteQueue

    async def put_forever(queue, worker):
        n = 0
        while True:
            call_id = f"w{worker}-{n}"
            await queue.put(QueuedCall(call_id, "echo", "openfaas-fn", body=b"x"))
            print("put", call_id, flush=True)
            n += 1

    async def main():
        queue = SqliteQueue(sys.argv[1])
        await queue.start()
        putters = [asyncio.create_task(put_forever(queue, w)) for w in range(8)]
        while True:
            for delivery in await queue.claim(limit=5, lease=1.0, wait=1):
                print("claimed", delivery.call.call_id, flush=True)
            await asyncio.sleep(0.01)

    asyncio.run(main())
    """
)


def _run_child_until_killed(path: Path, puts: int, claims: int) -> tuple[set[str], set[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    put, claimed = set(), set()
    assert child.stdout is not None
    try:
        for line in child.stdout:
            kind, call_id = line.split()
            (put if kind == "put" else claimed).add(call_id)
            if len(put) >= puts and len(claimed) >= claims:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    return put, claimed


async def test_nothing_acknowledged_is_lost_when_the_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    put, claimed = _run_child_until_killed(path, puts=300, claims=10)
    assert claimed <= put

    queue = SqliteQueue(str(path))
    await queue.start()
    try:
        attempts: dict[str, int] = {}
        while True:
            # the dead child's leases end within 1 s, then its calls come back
            deliveries = await queue.claim(limit=100, lease=30, wait=2.5)
            if not deliveries:
                break
            for delivery in deliveries:
                attempts[delivery.call.call_id] = delivery.attempt
                await queue.ack(delivery, Outcome(status_code=200))
    finally:
        await queue.close()
    assert put <= attempts.keys()  # every call whose put returned is there
    assert all(attempts[call_id] == 2 for call_id in claimed)


_CLAIMER = textwrap.dedent(
    """
    import asyncio, sys
    from pyfaas.queue import Outcome
    from pyfaas.queue.backends.sqlite import SqliteQueue

    async def main():
        queue = SqliteQueue(sys.argv[1])
        await queue.start()
        while deliveries := await queue.claim(limit=5, lease=30, wait=1):
            for delivery in deliveries:
                await queue.ack(delivery, Outcome(status_code=200))
                print(delivery.call.call_id, flush=True)
        await queue.close()

    asyncio.run(main())
    """
)


async def test_claiming_processes_never_share_a_call(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    queue = open_queue(f"sqlite://{path}")
    await queue.start()
    ids = [f"c{i}" for i in range(400)]
    await asyncio.gather(*(queue.put(queued_call(i)) for i in ids))
    await queue.close()

    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _CLAIMER, str(path), stdout=subprocess.PIPE, cwd=ROOT
        )
        for _ in range(2)
    ]
    outputs = await asyncio.gather(*(child.communicate() for child in children))
    claimed = [line for out, _ in outputs for line in out.decode().split()]
    assert all(child.returncode == 0 for child in children)
    assert sorted(claimed) == sorted(ids)


async def test_unopenable_file_raises_queue_unavailable(tmp_path: Path) -> None:
    queue = SqliteQueue(str(tmp_path / "missing-dir" / "queue.db"))
    with pytest.raises(QueueUnavailable, match="missing-dir"):
        await queue.start()


async def test_a_failed_open_never_leaves_start_waiting(tmp_path: Path) -> None:
    # The open can fail before start() has queued its wait: it must still fail, not hang.
    for i in range(100):
        queue = SqliteQueue(str(tmp_path / "missing-dir" / f"q{i}.db"))
        with pytest.raises(QueueUnavailable):
            await asyncio.wait_for(queue.start(), timeout=5)


async def test_many_concurrent_puts_share_commits(tmp_path: Path) -> None:
    queue = SqliteQueue(str(tmp_path / "queue.db"))
    await queue.start()
    try:
        calls = [queued_call(f"c{i}") for i in range(2000)]
        results = await asyncio.gather(*(queue.put(call) for call in calls))
        assert all(results)
        assert (await queue.stats()).queued == 2000
    finally:
        await queue.close()


async def test_close_ends_a_waiting_claim(tmp_path: Path) -> None:
    queue = SqliteQueue(str(tmp_path / "queue.db"))
    await queue.start()
    waiter = asyncio.create_task(queue.claim(limit=1, lease=5, wait=30))
    await asyncio.sleep(0.1)
    await queue.close()
    assert await asyncio.wait_for(waiter, timeout=5) == []


async def test_corrupt_rows_become_dead_letters_and_claims_go_on(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    queue = SqliteQueue(str(path))
    await queue.start()
    try:
        assert await queue.put(queued_call("first"))
        with sqlite3.connect(path) as conn:
            # A payload that names another call, and a queue row whose call row is gone.
            other = queued_call("other").encode()
            conn.execute("UPDATE calls SET payload = ? WHERE call_id = 'first'", (other,))
            conn.execute("INSERT INTO queue (call, due) VALUES (9999, 0)")
        assert await queue.put(queued_call("second"))
        [delivery] = await queue.claim(limit=1, lease=5, wait=2)
        assert delivery.call.call_id == "second"
        [dead] = await queue.dead_letters()
        assert (dead.call_id, dead.state, dead.error) == ("first", CallState.DEAD, UNDECODABLE)
        stats = await queue.stats()
        assert (stats.queued, stats.running, stats.dead) == (0, 1, 1)
        await queue.ack(delivery, Outcome(status_code=200))

        # Replayed, it is set aside again by the next claim.
        await queue.replay("first")
        assert await queue.claim(limit=5, lease=5, wait=0.3) == []
        assert [r.call_id for r in await queue.dead_letters()] == ["first"]
    finally:
        await queue.close()
