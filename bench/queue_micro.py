"""Claim+ack, or puts, on the SQLite queue alone: no gateway, no function, no HTTP.

    python -m bench.queue_micro [--calls 20000] [--inflight 1,10,50] [--rounds 2]
                                [--against /path/to/other/tree] [--puts]

A backlog of ``calls`` calls is put, then drained the way the queue-worker
drains it: one claimer keeps up to ``max(16, k)`` calls claimed ahead (at
least 2 a claim), ``k`` runners take them and ack each in the background
with the outcome a no-op call leaves (status, times, a stored result of
two headers and a short body). What is timed is the drain: calls a second,
and the CPU a call of the writer process (``/proc/<pid>/schedstat``) and
of the parent (its event loop and read thread), and the bytes the writer
wrote a call (``/proc/<pid>/io``: the WAL's pages, mostly).

With ``--puts`` what is timed is the puts instead, as the gateway makes
them for ``k`` clients that each wait for their 202 before the next call
(``k`` puts in flight, every one durable before its answer), to one
function with call ids in the order they are made, as in the accept rows
of ``python -m bench``; with the same figures a call, the writer's CPU and
bytes saying what the group commits cost.

Each round runs in a process of its own, started as a script so that
``--against`` can put another tree's ``pyfaas`` first on its path (its
writer child inherits it): the two trees alternate, round by round, and the
ratios of each round are printed, since this machine's load moves the
absolute figures by more than most changes do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on use otherwise: a round runs another tree's pyfaas
    from pyfaas.queue.backends.sqlite import SqliteQueue
    from pyfaas.queue.envelope import QueuedCall

HERE = Path(__file__).resolve()
TREE = HERE.parent.parent
AHEAD = 16
FAIR_CLAIM = 2
HEADERS = [("Content-Type", "text/plain"), ("X-Duration-Seconds", "0.000120")]


def _written(pid: int) -> int:
    """Bytes process ``pid`` passed to write calls: the WAL's pages, mostly."""
    with open(f"/proc/{pid}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("wchar:"))


def _cpu_ns(pid: int) -> int:
    """Nanoseconds on a CPU of process ``pid``, all its threads."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def _noop_call(call_id: str, submitted_at: float) -> QueuedCall:
    """A call to the no-op function as the bench puts it."""
    from pyfaas.queue.envelope import QueuedCall

    return QueuedCall(
        call_id=call_id,
        function="noop",
        namespace="openfaas-fn",
        headers=[("Content-Type", "text/plain")],
        body=b"01234567890123456789",
        submitted_at=submitted_at,
        fingerprint=uuid.uuid4().hex,
    )


def _writer_pid(queue: SqliteQueue) -> int:
    """The SQLite queue's writer child, whose CPU and bytes the bench reads."""
    link = queue._writer._link
    assert link is not None
    return link._child.pid


async def _measured(writer_pid: int, calls: int, work: Awaitable[None]) -> dict[str, float]:
    """Run ``work``; calls a second, and the CPU and bytes a call of both processes."""
    cpu_writer = _cpu_ns(writer_pid)
    written = _written(writer_pid)
    cpu_self = time.process_time()
    began = time.perf_counter()
    await work
    took = time.perf_counter() - began
    return {
        "rate": calls / took,
        "writer_us": (_cpu_ns(writer_pid) - cpu_writer) / 1000 / calls,
        "parent_us": (time.process_time() - cpu_self) * 1e6 / calls,
        "written_kib": (_written(writer_pid) - written) / 1024 / calls,
    }


async def _drain(path: str, calls: int, k: int) -> dict[str, float]:
    from pyfaas.queue.backends.sqlite import SqliteQueue
    from pyfaas.queue.envelope import Delivery, Outcome, StoredResult

    queue = SqliteQueue(path)
    await queue.start()
    try:
        now = time.time()
        prefix = uuid.uuid4().hex[:8]
        batch = 50
        for start in range(0, calls, batch):
            await asyncio.gather(
                *(
                    queue.put(_noop_call(f"{prefix}-{i:07d}", now))
                    for i in range(start, min(calls, start + batch))
                )
            )
        await asyncio.sleep(0.2)  # let the writer checkpoint what the puts wrote
        ready: asyncio.Queue[Delivery] = asyncio.Queue()
        settles: set[asyncio.Task[None]] = set()
        done = 0
        claimed = 0
        finished = asyncio.Event()

        async def claimer() -> None:
            nonlocal claimed
            ahead = max(AHEAD, k)
            while claimed < calls:
                free = ahead - ready.qsize()
                if free < max(FAIR_CLAIM, min(ahead // 2, 8)):
                    await asyncio.sleep(0)
                    continue
                got = await queue.claim(free, 30.0, 0.05)
                claimed += len(got)
                for delivery in got:
                    ready.put_nowait(delivery)

        def settled(task: asyncio.Task[None]) -> None:
            nonlocal done
            settles.discard(task)
            task.result()
            done += 1
            if done == calls:
                finished.set()

        async def runner() -> None:
            while True:
                delivery = await ready.get()
                started = time.time()
                await asyncio.sleep(0)  # the call itself: one turn of the loop
                result = StoredResult(200, HEADERS, b"ok", False, 2)
                outcome = Outcome(200, None, None, 0, started, time.time(), result)
                task = asyncio.create_task(queue.ack(delivery, outcome))
                settles.add(task)
                task.add_done_callback(settled)

        # Made here, the tasks first run at _measured's await, after its first readings.
        tasks = [asyncio.create_task(claimer())] + [asyncio.create_task(runner()) for _ in range(k)]
        figures = await _measured(_writer_pid(queue), calls, finished.wait())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stats = await queue.stats()
        if stats.queued or stats.running:
            raise RuntimeError(f"left over after the drain: {stats}")
    finally:
        await queue.close()
    return figures


async def _puts(path: str, calls: int, k: int) -> dict[str, float]:
    from pyfaas.queue.backends.sqlite import SqliteQueue

    queue = SqliteQueue(path)
    await queue.start()
    try:
        prefix = uuid.uuid4().hex[:8]  # ids made in order, as the gateway's version 7 UUIDs
        numbers = iter(range(calls))

        async def client() -> None:
            for i in numbers:
                await queue.put(_noop_call(f"{prefix}-{i:07d}", time.time()))

        async def clients() -> None:
            await asyncio.gather(*(client() for _ in range(k)))

        return await _measured(_writer_pid(queue), calls, clients())
    finally:
        await queue.close()


def _child(calls: int, k: int, puts: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="queue-micro-") as directory:
        os.chdir(directory)  # the writer child's ``-m`` path: not some tree's root
        timed = _puts if puts else _drain
        figures = asyncio.run(timed(os.path.join(directory, "queue.db"), calls, k))
    print(json.dumps(figures))


def _round(tree: Path, calls: int, k: int, puts: bool) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, str(HERE), "--child", "--calls", str(calls), "--inflight", str(k)]
    argv += ["--puts"] if puts else []
    with tempfile.TemporaryDirectory() as cwd:
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"round on {tree} failed:\n{done.stderr}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _show(figures: dict[str, float]) -> str:
    return (
        f"{figures['rate']:7.0f} calls/s, writer {figures['writer_us']:5.1f} µs/call,"
        f" parent {figures['parent_us']:5.1f} µs/call,"
        f" writes {figures['written_kib']:4.1f} KiB/call"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--inflight", default="1,10,50")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--against", type=Path, help="another tree, measured alternately")
    parser.add_argument("--puts", action="store_true", help="time the puts, not the drain")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.calls, int(args.inflight), args.puts)
        return
    trees = [("this", TREE)] + ([("other", args.against.resolve())] if args.against else [])
    for k in (int(part) for part in args.inflight.split(",")):
        for n in range(args.rounds):
            measured = {}
            for name, tree in trees if n % 2 == 0 else trees[::-1]:
                measured[name] = _round(tree, args.calls, k, args.puts)
                print(f"max_inflight={k:<3d} round {n + 1} {name:5s} {_show(measured[name])}")
            if "other" in measured:
                mine, other = measured["this"], measured["other"]
                print(
                    f"max_inflight={k:<3d} round {n + 1} this/other: rate"
                    f" {mine['rate'] / other['rate']:.2f}x, writer CPU"
                    f" {mine['writer_us'] / other['writer_us']:.2f}x, parent CPU"
                    f" {mine['parent_us'] / other['parent_us']:.2f}x, written"
                    f" {mine['written_kib'] / other['written_kib']:.2f}x"
                )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
