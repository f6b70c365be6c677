"""``python -m bench``: every benchmark in one run, one table of ratios and targets.

    python -m bench [--seconds 3] [--only sync,cat,accept,drain,cold,nats]

Rows are printed as they finish; the markdown table comes last, and the
whole run is written to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import accept, cold, drain, functions, report, sync_rows
from bench.procs import Child, Gateway, echo_server, nats_server
from bench.replicas import replica_port
from bench.report import Row

SECTIONS = ("sync", "cat", "accept", "drain", "cold", "nats")
# Each drain lasts several seconds: rounds of 2-4 s carried this machine's
# sub-second swings (single rounds read 67-119 % of the direct calls).
DRAIN_PLAN = {1: 6000, 10: 30000, 50: 60000}
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


class Run:
    """The state of one run: its directory, its children, the rows so far."""

    def __init__(self, root: Path, seconds: float, only: set[str]) -> None:
        self.root, self.seconds, self.only = root, seconds, only
        self.rows: list[Row] = []
        self.children: list[Child] = []

    def add(self, rows: list[Row]) -> None:
        for row in rows:
            verdict = f"  [{row.verdict}: {row.target.text}]" if row.target else ""
            print(f"{row.section:38s} {row.label:36s} {row.measured}  {row.shown}{verdict}")
            sys.stdout.flush()
        self.rows += rows

    def gateway(self, name: str, queue_url: str, extra: dict[str, str] | None = None) -> Gateway:
        home = self.root / name
        home.mkdir()
        # Each home builds its own copy: a venv's paths are absolute, and the
        # sandbox binds only the home's own image store.
        functions.build_echo(home / "images", self.root / f"{name}-project")
        gateway = Gateway(home, queue_url.replace("{home}", str(home)), extra)
        self.children.append(gateway.start())
        gateway.wait_healthy()
        return gateway

    def wants(self, *sections: str) -> bool:
        return any(section in self.only for section in sections)


def _sqlite(run: Run, echo_port: int) -> None:
    gateway = run.gateway("sqlite", "sqlite://{home}/queue.db")
    url = "sqlite://" + str(gateway.home / "queue.db")
    for spec in (
        functions.echo_spec("echo"),
        functions.cat_spec("cat"),
        functions.echo_spec("noop"),
    ):
        gateway.deploy(spec)
    for name in ("echo", "cat", "noop"):
        gateway.wait_ready(name)
    if run.wants("sync"):
        run.add(sync_rows.echo_rows(gateway.url, replica_port("echo"), echo_port, run.seconds))
    if run.wants("cat"):
        run.add(sync_rows.cat_rows(gateway.url, replica_port("cat"), run.seconds))
    if run.wants("accept"):
        run.add(accept.accept_rows(gateway, url, "sqlite", echo_port, run.seconds))
    if run.wants("drain"):
        run.add(drain.drain_rows(gateway, url, "sqlite", DRAIN_PLAN))
    if run.wants("cold"):
        run.add(cold.cold_rows(gateway, _sandbox_default(), _cold_specs()))
    gateway.stop()


def _sandbox_default() -> str:
    return "on (bwrap)" if shutil.which("bwrap") else "off (no bwrap)"


def _cold_specs() -> dict[str, dict[str, object]]:
    return {
        "python3-http": functions.echo_spec("cold-echo"),
        "classic": functions.cat_spec("cold-cat"),
    }


def _unsandboxed(run: Run) -> None:
    gateway = run.gateway("nosandbox", "sqlite://{home}/queue.db", {"PYFAAS_SANDBOX": "off"})
    run.add(cold.cold_rows(gateway, "off", _cold_specs()))
    gateway.stop()


def _nats(run: Run, echo_port: int) -> None:
    found = nats_server(run.root)
    if found is None:
        print("nats-server is not installed: skipping the NATS rows")
        return
    server, port = found
    run.children.append(server)
    url = f"nats://127.0.0.1:{port}"
    gateway = run.gateway("nats", url)
    gateway.deploy(functions.echo_spec("noop"))
    gateway.wait_ready("noop")
    run.add(accept.accept_rows(gateway, url, "nats", echo_port, run.seconds))
    run.add(drain.drain_rows(gateway, url, "nats", DRAIN_PLAN))
    gateway.stop()


def _steps(run: Run, echo_port: int) -> list[Callable[[], None]]:
    steps = []
    if run.wants("sync", "cat", "accept", "drain", "cold"):
        steps.append(lambda: _sqlite(run, echo_port))
    if run.wants("cold") and shutil.which("bwrap"):
        steps.append(lambda: _unsandboxed(run))
    if run.wants("nats"):
        steps.append(lambda: _nats(run, echo_port))
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--seconds", type=float, default=3.0, help="wrk duration of each row")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    args = parser.parse_args()
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    if unknown := only - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed: run scripts/system-deps")
    before = report.machine()
    print(f"machine: {before}")
    with tempfile.TemporaryDirectory(prefix="pyfaas-bench-") as tmp:
        run = Run(Path(tmp), args.seconds, only)
        echo, echo_port = echo_server(run.root)
        run.children.append(echo)
        try:
            for step in _steps(run, echo_port):
                step()
        finally:
            for child in reversed(run.children):
                child.stop()
    after = report.machine()
    report.write_json(RESULTS, run.rows, before, after)
    print(f"\nload average before {before['loadavg']}, after {after['loadavg']}")
    print(f"{os.cpu_count()} cpus; results in {RESULTS}\n")
    print(report.markdown(run.rows))


if __name__ == "__main__":
    main()
