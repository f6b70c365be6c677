"""Put and claim+ack on the NATS queue alone: no gateway, no function, no HTTP.

    python -m bench.nats_micro [--calls 10000] [--inflight 1,10,50] [--rounds 2]
                               [--against /path/to/other/tree]

Each round starts a nats-server of its own (JetStream on a fresh directory)
and, in a process of its own, puts ``calls`` calls 50 at a time (what is
timed: puts a second, and the CPU a put costs this process and the server),
then drains them the way the queue-worker does: one claimer keeps up to
``max(16, k)`` calls claimed ahead, ``k`` runners each take one, mark it
running, and ack it in the background with the outcome a no-op call leaves
(status, times, a stored result of two headers and a short body). What is
timed is the drain: calls a second, and the CPU a call of this process
(its event loop) and of nats-server (``/proc/<pid>/schedstat``).

Each round's process is started as a script so that ``--against`` can put
another tree's ``pyfaas`` first on its path: the two trees alternate, round
by round, and the ratios of each round are printed, since this machine's
load moves the absolute figures by more than most changes do. The server
runs with its monitoring port, and each phase also reports the messages it
took a call, into and out of the server (``/varz`` ``in_msgs`` and
``out_msgs``): a count that the machine's load does not move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyfaas.queue.backends.nats import NatsQueue

HERE = Path(__file__).resolve()
TREE = HERE.parent.parent
AHEAD = 16
FAIR_CLAIM = 2
PUT_AT_ONCE = 50
HEADERS = [("Content-Type", "text/plain"), ("X-Duration-Seconds", "0.000120")]


def _cpu_ns(pid: int) -> int:
    """Nanoseconds on a CPU of process ``pid``, all its threads."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # a thread that ended while being read
    return total


def _msgs(monitor: int) -> tuple[int, int]:
    """The server's ``in_msgs`` and ``out_msgs`` so far (its ``/varz``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/varz", timeout=5) as reply:
        varz = json.loads(reply.read())
    return int(varz["in_msgs"]), int(varz["out_msgs"])


async def _put_all(queue: NatsQueue, server_pid: int, calls: int) -> tuple[float, float, int]:
    """Put ``calls`` calls, ``PUT_AT_ONCE`` at a time: seconds, CPU here and of the server."""
    from pyfaas.queue.envelope import QueuedCall

    now = time.time()
    prefix = uuid.uuid4().hex[:8]
    cpu_server, cpu_self = _cpu_ns(server_pid), time.process_time()
    began = time.perf_counter()
    for start in range(0, calls, PUT_AT_ONCE):
        await asyncio.gather(
            *(
                queue.put(
                    QueuedCall(
                        call_id=f"{prefix}-{i:07d}",
                        function="noop",
                        namespace="openfaas-fn",
                        headers=[("Content-Type", "text/plain")],
                        body=b"01234567890123456789",
                        submitted_at=now,
                        fingerprint=uuid.uuid4().hex,
                    )
                )
                for i in range(start, min(calls, start + PUT_AT_ONCE))
            )
        )
    put_took = time.perf_counter() - began
    put_self = time.process_time() - cpu_self
    put_server = _cpu_ns(server_pid) - cpu_server

    return put_took, put_self, put_server


async def _run(url: str, server_pid: int, monitor: int, calls: int, k: int) -> dict[str, float]:
    from pyfaas.queue.backends.nats import NatsQueue
    from pyfaas.queue.envelope import Delivery, Outcome, StoredResult

    queue = NatsQueue(url, namespace="micro")
    await queue.start()
    try:
        msgs_before = _msgs(monitor)
        put_took, put_self, put_server = await _put_all(queue, server_pid, calls)
        msgs_put = _msgs(monitor)

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
                await queue.mark_running(delivery)
                started = time.time()
                await asyncio.sleep(0)  # the call itself: one turn of the loop
                result = StoredResult(200, HEADERS, b"ok", False, 2)
                outcome = Outcome(200, None, None, 0, started, time.time(), result)
                task = asyncio.create_task(queue.ack(delivery, outcome))
                settles.add(task)
                task.add_done_callback(settled)

        cpu_server, cpu_self = _cpu_ns(server_pid), time.process_time()
        began = time.perf_counter()
        tasks = [asyncio.create_task(claimer())] + [asyncio.create_task(runner()) for _ in range(k)]
        await finished.wait()
        took = time.perf_counter() - began
        cpu_self = time.process_time() - cpu_self
        cpu_server = _cpu_ns(server_pid) - cpu_server
        msgs_drain = _msgs(monitor)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stats = await queue.stats()
        if stats.queued or stats.running:
            raise RuntimeError(f"left over after the drain: {stats}")
        processed = sum(f.processed for f in stats.functions)
        if processed != calls:
            print(f"only {processed} of {calls} calls counted processed", file=sys.stderr)
    finally:
        await queue.close()
    return {
        "put_rate": calls / put_took,
        "put_self_us": put_self * 1e6 / calls,
        "put_server_us": put_server / 1000 / calls,
        "rate": calls / took,
        "self_us": cpu_self * 1e6 / calls,
        "server_us": cpu_server / 1000 / calls,
        "put_in": (msgs_put[0] - msgs_before[0]) / calls,
        "put_out": (msgs_put[1] - msgs_before[1]) / calls,
        "in": (msgs_drain[0] - msgs_put[0]) / calls,
        "out": (msgs_drain[1] - msgs_put[1]) / calls,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child(url: str, server_pid: int, monitor: int, calls: int, k: int) -> None:
    print(json.dumps(asyncio.run(_run(url, server_pid, monitor, calls, k))))


def _round(tree: Path, calls: int, k: int) -> dict[str, float]:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    with tempfile.TemporaryDirectory(prefix="nats-micro-") as directory:
        port, monitor = _free_port(), _free_port()
        argv = [binary, "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)]
        argv += ["-js", "-sd", directory]
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("nats-server did not start")
                time.sleep(0.05)
            env = {**os.environ, "PYTHONPATH": str(tree)}
            child = [sys.executable, str(HERE), "--child", "--url", f"nats://127.0.0.1:{port}"]
            child += ["--pid", str(server.pid), "--monitor", str(monitor)]
            child += ["--calls", str(calls), "--inflight", str(k)]
            done = subprocess.run(
                child, env=env, cwd=directory, capture_output=True, text=True, check=False
            )
        finally:
            server.terminate()
            server.wait(timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"round on {tree} failed:\n{done.stderr}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _show(figures: dict[str, float]) -> str:
    return (
        f"put {figures['put_rate']:6.0f}/s (self {figures['put_self_us']:5.1f},"
        f" server {figures['put_server_us']:5.1f} µs,"
        f" msgs {figures.get('put_in', 0):.2f} in {figures.get('put_out', 0):.2f} out);"
        f" drain {figures['rate']:6.0f}/s (self {figures['self_us']:5.1f},"
        f" server {figures['server_us']:5.1f} µs,"
        f" msgs {figures.get('in', 0):.2f} in {figures.get('out', 0):.2f} out)"
    )


def _ratios(mine: dict[str, float], other: dict[str, float]) -> str:
    return ", ".join(
        f"{key} {mine[key] / other[key]:.2f}x"
        for key in ("put_rate", "put_self_us", "put_server_us", "rate", "self_us", "server_us")
        if other.get(key)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--inflight", default="1,10,50")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--against", type=Path, help="another tree, measured alternately")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--monitor", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.url, args.pid, args.monitor, args.calls, int(args.inflight))
        return
    trees = [("this", TREE)] + ([("other", args.against.resolve())] if args.against else [])
    for k in (int(part) for part in args.inflight.split(",")):
        for n in range(args.rounds):
            measured = {}
            for name, tree in trees if n % 2 == 0 else trees[::-1]:
                measured[name] = _round(tree, args.calls, k)
                print(f"max_inflight={k:<3d} round {n + 1} {name:5s} {_show(measured[name])}")
            if "other" in measured:
                ratios = _ratios(measured["this"], measured["other"])
                print(f"max_inflight={k:<3d} round {n + 1} this/other: {ratios}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
