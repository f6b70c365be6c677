"""What an accepted and a drained call costs each process on the NATS queue: CPU and messages.

    python -m bench.nats_cost [--calls 20000] [--connections 10] [--inflight 10]
                              [--rounds 2] [--against /path/to/other/tree]

Each round starts a nats-server of its own (with its monitoring port), a
gateway on it with the no-op function deployed, then: wrk posts to
``/async-function/noop`` for ``--seconds`` with no worker running (the
accept), and a queue-worker with ``max_inflight`` drains what was accepted
(the drain). For each phase it prints, per call, the CPU time of the
gateway, of the function's replicas, of the worker and of nats-server
(``/proc/<pid>/stat``), and the messages into and out of the server
(``/varz``): figures that the machine's other load moves far less than
it moves calls a second, which are printed too. With ``--against``, the
other tree's gateway and worker alternate with this tree's, round by
round, and each round's ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import functions, wrk
from bench.procs import Gateway, Worker, monitored_nats_server, wait_drained

HERE = Path(__file__).resolve()
TREE = HERE.parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float]:
    """Parent's pid and CPU seconds (user + system) of process ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _cpu(gateway: int, worker: int, server: int) -> dict[str, float]:
    """CPU seconds so far of the gateway, its replicas (its session), the worker and the server."""
    seconds = {"gateway": _stat(gateway)[1], "replicas": 0.0, "worker": 0.0, "server": 0.0}
    seconds["server"] = _stat(server)[1]
    if worker:
        seconds["worker"] = _stat(worker)[1]
    parents: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = _stat(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue  # ended while being read
    # The replicas: every process the gateway started, and theirs.
    ours = {gateway}
    grew = True
    while grew:
        found = {pid for pid, (parent, _) in parents.items() if parent in ours} - ours
        ours |= found
        grew = bool(found)
    seconds["replicas"] = sum(parents[pid][1] for pid in ours - {gateway})
    return seconds


def _msgs(monitor: int) -> tuple[int, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/varz", timeout=5) as reply:
        varz = json.loads(reply.read())
    return int(varz["in_msgs"]), int(varz["out_msgs"])


def _per_call(
    before: dict[str, float], after: dict[str, float], msgs: tuple[int, int], calls: int
) -> dict[str, float]:
    figures = {name: (after[name] - before[name]) * 1e6 / calls for name in before}
    figures["in"], figures["out"] = msgs[0] / calls, msgs[1] / calls
    return figures


def _round(tree: Path, seconds: float, c: int, k: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="nats-cost-") as directory:
        root = Path(directory)
        found = monitored_nats_server(root)
        if found is None:
            raise RuntimeError("nats-server is not installed")
        server, port, monitor = found
        home = root / "home"
        home.mkdir()
        functions.build_echo(home / "images", root / "project")
        url = f"nats://127.0.0.1:{port}"
        # Not the working directory first on the path (``-m`` puts it there): the tree's.
        extra = {"PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}
        gateway = Gateway(home, url, extra).start()
        worker: Worker | None = None
        try:
            gateway.wait_healthy()
            gateway.deploy(functions.echo_spec("noop"))
            gateway.wait_ready("noop")
            assert gateway.proc is not None
            assert server.proc is not None
            pids = (gateway.proc.pid, 0, server.proc.pid)
            cpu, msgs = _cpu(*pids), _msgs(monitor)
            result = wrk.run(f"{gateway.url}/async-function/noop", c, seconds)
            accepted = result.requests - result.non_2xx
            cpu_after, msgs_after = _cpu(*pids), _msgs(monitor)
            moved = (msgs_after[0] - msgs[0], msgs_after[1] - msgs[1])
            accept = _per_call(cpu, cpu_after, moved, accepted)
            accept["rate"] = accepted / result.requests * result.rps if result.requests else 0
            worker = Worker(gateway, url, k)
            worker.env.update(extra)
            worker.start()
            assert worker.proc is not None
            pids = (gateway.proc.pid, worker.proc.pid, server.proc.pid)
            cpu, msgs, began = _cpu(*pids), _msgs(monitor), time.perf_counter()
            wait_drained(gateway, worker, "the drain", 600)
            took = time.perf_counter() - began
            cpu_after, msgs_after = _cpu(*pids), _msgs(monitor)
            moved = (msgs_after[0] - msgs[0], msgs_after[1] - msgs[1])
            drain = _per_call(cpu, cpu_after, moved, accepted)
            drain["rate"] = accepted / took  # with the worker's start and the last poll
        finally:
            if worker is not None:
                worker.stop()
            gateway.stop()
            server.stop()
    return {"accept": accept, "drain": drain}


def _show(phase: dict[str, float]) -> str:
    cpu = ", ".join(
        f"{name} {phase[name]:5.1f}" for name in ("gateway", "replicas", "worker", "server")
    )
    msgs = f"msgs {phase['in']:.2f} in {phase['out']:.2f} out"
    return f"{phase['rate']:6.0f}/s; µs a call: {cpu}; {msgs}"


def _ratios(mine: dict[str, float], other: dict[str, float]) -> str:
    keys = ("rate", "gateway", "worker", "server", "in", "out")
    return ", ".join(f"{key} {mine[key] / other[key]:.2f}x" for key in keys if other.get(key))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--inflight", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--against", type=Path, help="another tree, measured alternately")
    args = parser.parse_args(argv)
    trees = [("this", TREE)] + ([("other", args.against.resolve())] if args.against else [])
    for n in range(args.rounds):
        measured = {}
        for name, tree in trees if n % 2 == 0 else trees[::-1]:
            measured[name] = _round(tree, args.seconds, args.connections, args.inflight)
            for phase, figures in measured[name].items():
                print(f"round {n + 1} {name:5s} {phase:6s} {_show(figures)}")
        if "other" in measured:
            for phase in ("accept", "drain"):
                ratios = _ratios(measured["this"][phase], measured["other"][phase])
                print(f"round {n + 1} this/other {phase:6s} {ratios}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
