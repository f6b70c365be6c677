"""Where a drain's time goes: CPU a call by process, slots kept busy, time between calls.

    python -m bench.drain_cpu [--backend nats|sqlite] [--inflight 1] [--calls 6000]
                              [--rounds 2]

One gateway (and nats-server, for NATS) with the no-op function; each
round makes ``calls`` direct calls ``k`` at a time, then queues as many and
drains them with one worker at ``max_inflight=k``, as ``python -m bench``'s
drain rows do. For each phase it prints the CPU every process on the machine
spent a call (``/proc/<pid>/stat``; the worker's includes its start) and how
much of it in the kernel, and for the drain its ratio to the direct calls
(timed from the call records, as the drain rows are), the mean number of
calls running (the invocations' time over the window they span: below
``k``, slots waited for claims) and, from the records of calls in the
middle of the drain, the time from one call's end to the next one's start
and an invocation's own time (with ``max_inflight=1``, what the worker adds
between two calls).

The ratio is noisier here than in ``python -m bench`` (one round, no median);
the CPU a call of each process is what to compare between two trees:
``PYTHONPATH=/other/tree python -m bench.drain_cpu`` runs that tree's
gateway and worker.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench import drain, functions
from bench.procs import Child, Gateway, Worker, nats_server, wait_drained

# Call records read from the middle of a drain for its gaps and invocations.
SAMPLE = 600

CpuTable = dict[int, tuple[str, int, int]]


def _cpu_table() -> CpuTable:
    """Every process's command line and CPU so far (user, system), in clock ticks, by pid."""
    found: CpuTable = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # ended while being read
        found[int(pid)] = (command[:90], int(fields[11]), int(fields[12]))
    return found


def _show_cpu(before: CpuTable, after: CpuTable, calls: int) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    rows: list[tuple[float, float, str]] = []
    for pid, (command, user, system) in after.items():
        _, user_then, system_then = before.get(pid, (command, 0, 0))
        spent = (user - user_then, system - system_then)
        if sum(spent) > 0:
            user_us, system_us = (ticks / tick * 1e6 / calls for ticks in spent)
            rows.append((user_us, system_us, command))
    # The system share is mostly loopback TCP: a write runs the receiver's side too.
    rows.sort(key=lambda row: row[0] + row[1], reverse=True)
    for user_us, system_us, command in rows[:6]:
        print(f"    {user_us + system_us:7.1f} µs a call ({system_us:5.1f} system)  {command}")
    print(f"    {sum(u + s for u, s, _ in rows):7.1f} µs a call in all")


def _show_calls(gateway: Gateway, prefix: str, calls: int, k: int, direct: float) -> None:
    span = drain.span(gateway, prefix, calls, k)
    print(f"  drain {calls / span:.0f}/s, direct {calls / direct:.0f}/s: {direct / span:.1%}")
    middle = range(calls // 3, min(calls, calls // 3 + SAMPLE))
    records = sorted(
        (drain.record(gateway, f"{prefix}-{i}") for i in middle),
        key=lambda r: drain.when(r, "startedAt"),
    )
    took = [drain.when(r, "finishedAt") - drain.when(r, "startedAt") for r in records]
    window = max(drain.when(r, "finishedAt") for r in records) - drain.when(records[0], "startedAt")
    print(f"  calls running: {sum(took) / window:.2f} on average of {k}")
    if k == 1:
        pairs = itertools.pairwise(records)
        gaps = [drain.when(b, "startedAt") - drain.when(a, "finishedAt") for a, b in pairs]
        print(
            f"  between calls: median {statistics.median(gaps) * 1e6:.0f} µs;"
            f" a call: median {statistics.median(took) * 1e6:.0f} µs;"
            f" a direct call {direct / calls * 1e6:.0f} µs"
        )


def _round(gateway: Gateway, queue_url: str, k: int, calls: int) -> None:
    before = _cpu_table()
    direct = asyncio.run(drain.direct_calls(f"{gateway.url}/function/noop", calls, k))
    print(f"direct calls, {calls / direct:.0f}/s:")
    _show_cpu(before, _cpu_table(), calls)
    prefix = drain.queue_calls(gateway, calls)
    before = _cpu_table()
    began = time.perf_counter()
    worker = Worker(gateway, queue_url, max_inflight=k).start()
    try:
        wait_drained(gateway, worker, f"the worker to drain {calls} calls", timeout=300)
        after = _cpu_table()  # the worker still among the processes
    finally:
        worker.stop()
    print(f"drain, {calls / (time.perf_counter() - began):.0f}/s with the worker's start:")
    _show_cpu(before, after, calls)
    _show_calls(gateway, prefix, calls, k, direct)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=("nats", "sqlite"), default="nats")
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--calls", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pyfaas-drain-cpu-"))
    children: list[Child] = []
    try:
        home = root / "gateway"
        home.mkdir()
        if args.backend == "nats":
            found = nats_server(root)
            if found is None:
                raise SystemExit("nats-server is not installed")
            children.append(found[0])
            queue_url = f"nats://127.0.0.1:{found[1]}"
        else:
            queue_url = f"sqlite://{home}/queue.db"
        functions.build_echo(home / "images", root / "project")
        gateway = Gateway(home, queue_url)
        children.append(gateway.start())
        gateway.wait_healthy()
        gateway.deploy(functions.echo_spec("noop"))
        gateway.wait_ready("noop")
        for n in range(args.rounds):
            print(f"round {n + 1}, {args.backend}, max_inflight={args.inflight}")
            _round(gateway, queue_url, args.inflight, args.calls)
    finally:
        for child in reversed(children):
            child.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
