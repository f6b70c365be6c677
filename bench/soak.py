"""``python -m bench.soak``: a long mixed load on ``pyfaas serve`` while its parts are killed.

    python -m bench.soak [--minutes 10] [--seed N] [--kill-every 20:60]

One ``pyfaas serve`` on a free 127.0.0.1 port and a temporary state
directory runs two classic functions: ``cat`` (called synchronously) and
``recorder``, which reports each run's call id to a receiver in this
process. Paced loops, bounded in time and count, send synchronous calls,
asynchronous calls and asynchronous calls with a callback to that receiver,
while a killer SIGKILLs the gateway or the queue-worker at random intervals
(serve starts them again). When the time is up the load stops and the queue
drains; then the run prints two tables: the calls (accepted, run, lost, run
twice, callbacks) and each process's resident memory at the start, at its
peak and at the end. It exits 1 if a call answered 202 never ran, or if a
call refused as not stored ran.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.procs import free_port, wait_for

PYFAAS = [sys.executable, "-c", "from pyfaas.cli.main import main; main()"]
RECORDER, CAT = "recorder", "cat"
RUN_SECONDS = 0.05  # what one run of the recorder takes (the receiver's answer)
INFLIGHT = 4
SERVE_ENV = {
    "PYFAAS_AUTOSCALE": "false",
    "PYFAAS_REPLICA_STOP_TIMEOUT": "2s",
    "max_inflight": str(INFLIGHT),
    "ack_wait": "5s",  # a killed worker's calls come back within seconds
    "invoke_timeout": "20s",
    "grace_period": "5s",
}
# Calls a second, per loop: well under what the queue drains at max_inflight 4,
# so that the backlog a kill leaves is worked off between kills.
SYNC_RATE, ASYNC_RATE, CALLBACK_RATE = 8.0, 4.0, 4.0
SAMPLE_EVERY = 5.0
DRAIN_TIMEOUT = 180.0
# Processes below serve, by what their command lines run (bubblewrap's holds its
# watchdog's too: it is told apart by its program).
KINDS = {
    "gateway": "pyfaas.gateway",
    "queue-worker": "pyfaas.worker",
    "sqlite writers": "_sqlite_writer",
    "replica watchdogs": "pyfaas.watchdog",
    "sandboxes (bwrap)": "bwrap",
}
KILLED = ("gateway", "queue-worker")


# -- /proc -------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found.extend(int(p) for p in text.split())
    return found


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    pending = _children(pid)
    while pending:
        child = pending.pop(0)
        out.append(child)
        pending.extend(_children(child))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def started(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), so a reused pid is not taken for it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def kind_of(command: str) -> str | None:
    program = command.split(" ", 1)[0]
    if os.path.basename(program) == "bwrap":
        return "sandboxes (bwrap)"
    return next((kind for kind, mark in KINDS.items() if mark in command), None)


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- the receiver --------------------------------------------------------------


class Receiver:
    """Counts the recorder's runs (``POST /run``, body: the call id) and callbacks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: collections.Counter[str] = collections.Counter()
        self.callbacks: collections.Counter[str] = collections.Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/run":
                    with receiver.lock:
                        receiver.runs[body.decode(errors="replace").strip()] += 1
                    time.sleep(RUN_SECONDS)
                else:
                    status = int(self.headers.get("X-Function-Status") or 0)
                    if 200 <= status < 300:
                        with receiver.lock:
                            receiver.callbacks[self.headers.get("X-Call-Id") or ""] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def counts(self) -> tuple[collections.Counter[str], collections.Counter[str]]:
        with self.lock:
            return collections.Counter(self.runs), collections.Counter(self.callbacks)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- pyfaas serve --------------------------------------------------------------


class Serve:
    """``pyfaas serve`` in its own session; its processes found through ``/proc``."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen: set[tuple[int, int | None]] = set()  # (pid, start): killed at the end

    def start(self) -> None:
        argv = [*PYFAAS, "serve", "--port", str(self.port), "--home", str(self.home)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv,
                env={**os.environ, **SERVE_ENV},
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        wait_for("pyfaas serve", self._serving, timeout=120, interval=0.1)

    def _serving(self) -> bool:
        self.check()
        return "pyfaas is serving on" in self.output() and self.healthy()

    def check(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"pyfaas serve exited:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        creds = self.home / "credentials"
        names = ("basic-auth-user", "basic-auth-password")
        user, password = ((creds / name).read_text().strip() for name in names)
        return httpx.request(
            method, f"{self.url}{path}", auth=(user, password), timeout=10, **kwargs
        )

    def deploy(self, spec: dict[str, Any]) -> None:
        answer = self.api("POST", "/system/functions", json=spec)
        if answer.status_code not in (200, 202):
            raise RuntimeError(f"deploy {spec['service']}: {answer.status_code} {answer.text}")

    def ready(self, name: str) -> bool:
        try:
            answer = self.api("GET", f"/system/function/{name}")
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("availableReplicas", 0) > 0

    def queue_idle(self) -> bool:
        try:
            answer = self.api("GET", "/system/queue")
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        stats = answer.json()
        return int(stats["queued"]) + int(stats["running"]) == 0

    def processes(self) -> dict[str, list[int]]:
        """The pids of serve and of each kind of process below it."""
        assert self.proc is not None
        below = descendants(self.proc.pid)
        self.seen.update((pid, started(pid)) for pid in below)
        found: dict[str, list[int]] = {"serve": [self.proc.pid], **{k: [] for k in KINDS}}
        for pid in below:
            if (kind := kind_of(cmdline(pid))) is not None:
                found[kind].append(pid)
        return found

    def kill(self, kind: str) -> bool:
        """SIGKILL the one process of ``kind``; False if there is none just now."""
        pids = self.processes()[kind]
        if len(pids) != 1:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pids[0], signal.SIGKILL)
        return True

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.processes()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid, start in self.seen:
            if start is not None and started(pid) == start:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        self.seen.clear()
        return self.proc.returncode


# -- the load ------------------------------------------------------------------


@dataclass
class Ledger:
    """What the loops sent and what they heard; shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: list[str] = field(default_factory=list)
    with_callback: set[str] = field(default_factory=set)
    attempted: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)  # 503 without X-Call-Id: not stored
    async_failed: int = 0
    sync_ok: int = 0
    sync_failed: int = 0
    kills: collections.Counter[str] = field(default_factory=collections.Counter)


class Load:
    """The paced loops and the killer, each a thread that ends by ``deadline``."""

    def __init__(self, serve: Serve, receiver: Receiver, ledger: Ledger, seconds: float) -> None:
        self.serve, self.receiver, self.ledger = serve, receiver, ledger
        self.deadline = time.monotonic() + seconds
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def loop(self, rate: float, step: Callable[[httpx.Client], None]) -> None:
        """Call ``step`` ``rate`` times a second until the deadline (bounded in count too)."""

        def run() -> None:
            pause = 1.0 / rate
            most = int((self.deadline - time.monotonic()) * rate) + 1
            with httpx.Client(base_url=self.serve.url, timeout=30) as client:
                for _ in range(most):
                    if self.stop.is_set() or time.monotonic() >= self.deadline:
                        return
                    started = time.monotonic()
                    step(client)
                    self.stop.wait(max(0.0, pause - (time.monotonic() - started)))

        self.threads.append(threading.Thread(target=run, daemon=True))

    def sync_call(self, client: httpx.Client) -> None:
        body = uuid.uuid4().hex.encode()
        try:
            answer = client.post(f"/function/{CAT}", content=body)
            ok = answer.status_code == 200 and answer.content == body
        except httpx.HTTPError:
            ok = False
        with self.ledger.lock:
            if ok:
                self.ledger.sync_ok += 1
            else:
                self.ledger.sync_failed += 1

    def async_call(self, client: httpx.Client, callback: bool) -> None:
        call_id = str(uuid.uuid4())
        headers = {"X-Call-Id": call_id}
        if callback:
            headers["X-Callback-Url"] = f"{self.receiver.base}/callback"
        ledger = self.ledger
        with ledger.lock:
            ledger.attempted.add(call_id)
        try:
            answer = client.post(f"/async-function/{RECORDER}", content=call_id, headers=headers)
        except httpx.HTTPError:
            with ledger.lock:
                ledger.async_failed += 1
            return
        with ledger.lock:
            if answer.status_code == 202:
                ledger.accepted.append(call_id)
                if callback:
                    ledger.with_callback.add(call_id)
                return
            ledger.async_failed += 1
            if answer.status_code == 503 and "X-Call-Id" not in answer.headers:
                ledger.refused.append(call_id)

    def killer(self, low: float, high: float, rng: random.Random) -> None:
        def run() -> None:
            while not self.stop.wait(rng.uniform(low, high)):
                if time.monotonic() >= self.deadline:
                    return
                kind = rng.choice(KILLED)
                if self.serve.kill(kind):
                    with self.ledger.lock:
                        self.ledger.kills[kind] += 1
                    print(f"  {time.strftime('%H:%M:%S')} killed the {kind}", flush=True)

        self.threads.append(threading.Thread(target=run, daemon=True))

    def run(self) -> None:
        for thread in self.threads:
            thread.start()
        try:
            for thread in self.threads:
                thread.join(timeout=max(1.0, self.deadline - time.monotonic() + 60))
        finally:
            self.stop.set()


class Memory:
    """Resident memory per kind of process: the first sample, the peak, the last."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.first: dict[str, tuple[int, int]] = {}  # kind -> (processes, KiB)
        self.last: dict[str, tuple[int, int]] = {}
        self.peak: collections.Counter[str] = collections.Counter()

    def sample(self) -> dict[str, tuple[int, int]]:
        found = {
            kind: (len(pids), sum(rss_kib(pid) for pid in pids))
            for kind, pids in self.serve.processes().items()
        }
        for kind, (_, kib) in found.items():
            self.peak[kind] = max(self.peak[kind], kib)
        if not self.first:
            self.first = found
        self.last = found
        return found

    def sampler(self, stop: threading.Event) -> threading.Thread:
        def run() -> None:
            while not stop.wait(SAMPLE_EVERY):
                with contextlib.suppress(Exception):  # a process may end mid-read
                    self.sample()

        return threading.Thread(target=run, daemon=True)


# -- the run ---------------------------------------------------------------------


def deploy(serve: Serve, receiver: Receiver) -> None:
    serve.deploy(
        {
            "service": RECORDER,
            "image": "ghcr.io/openfaas/alpine:latest",
            "envProcess": f"curl -sS --fail --data-binary @- {receiver.base}/run",
        }
    )
    serve.deploy({"service": CAT, "image": "ghcr.io/openfaas/alpine:latest", "envProcess": "cat"})
    wait_for(
        "the functions",
        lambda: serve.ready(RECORDER) and serve.ready(CAT),
        timeout=90,
        interval=0.1,
    )


def drain(serve: Serve, receiver: Receiver, ledger: Ledger) -> float:
    """Wait (bounded) until every 202 ran and was called back and the queue is idle."""
    started = time.monotonic()
    accepted = set(ledger.accepted)
    while time.monotonic() - started < DRAIN_TIMEOUT:
        serve.check()
        runs, callbacks = receiver.counts()
        if (
            accepted <= runs.keys()
            and ledger.with_callback <= callbacks.keys()
            and serve.queue_idle()
        ):
            break
        time.sleep(0.5)
    return time.monotonic() - started


@dataclass
class Totals:
    rows: list[tuple[str, str]]
    lost: int
    ran_refused: int


def totals(ledger: Ledger, receiver: Receiver, minutes: float, drained: float) -> Totals:
    runs, callbacks = receiver.counts()
    accepted = set(ledger.accepted)
    lost = len(accepted - runs.keys())
    ran_refused = len(runs.keys() & set(ledger.refused))
    missing_callbacks = len(ledger.with_callback - callbacks.keys())
    rows = [
        ("load", f"{minutes:g} min, then {drained:.0f} s to drain"),
        ("kills", ", ".join(f"{kind} {ledger.kills[kind]}" for kind in KILLED)),
        ("sync calls: ok / failed", f"{ledger.sync_ok} / {ledger.sync_failed}"),
        ("async calls accepted (202)", str(len(accepted))),
        ("  of them with a callback", str(len(ledger.with_callback))),
        ("async submissions refused", f"{ledger.async_failed} ({len(ledger.refused)} not stored)"),
        ("accepted calls run", str(len(accepted & runs.keys()))),
        ("**lost** (accepted, never run)", str(lost)),
        ("run twice or more", str(sum(1 for n in runs.values() if n > 1))),
        ("run without a 202", str(len(runs.keys() - accepted))),
        ("run although refused as not stored", str(ran_refused)),
        (
            "callbacks missing / repeated",
            f"{missing_callbacks} / {sum(1 for n in callbacks.values() if n > 1)}",
        ),
    ]
    return Totals(rows, lost, ran_refused)


def table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def memory_rows(memory: Memory) -> list[tuple[str, ...]]:
    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f}"

    rows: list[tuple[str, ...]] = []
    for kind in ("serve", *KINDS):
        n0, start = memory.first.get(kind, (0, 0))
        n1, end = memory.last.get(kind, (0, 0))
        rows.append((kind, f"{n0} / {n1}", mib(start), mib(memory.peak[kind]), mib(end)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill schedule")
    parser.add_argument(
        "--kill-every", default="20:60", help="seconds between kills, LOW:HIGH (uniform)"
    )
    args = parser.parse_args(argv)
    low, _, high = args.kill_every.partition(":")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    root = Path(tempfile.mkdtemp(prefix="pyfaas-soak-"))
    receiver = Receiver()
    serve = Serve(root)
    ledger = Ledger()
    failed = True
    try:
        print(f"soak: {args.minutes:g} min, seed {seed}, state in {root}", flush=True)
        serve.start()
        deploy(serve, receiver)
        memory = Memory(serve)
        memory.sample()
        load = Load(serve, receiver, ledger, args.minutes * 60)
        load.loop(SYNC_RATE / 2, load.sync_call)
        load.loop(SYNC_RATE / 2, load.sync_call)
        load.loop(ASYNC_RATE, lambda client: load.async_call(client, callback=False))
        load.loop(CALLBACK_RATE, lambda client: load.async_call(client, callback=True))
        load.killer(float(low), float(high or low), random.Random(seed))
        sampler = memory.sampler(load.stop)
        sampler.start()
        load.run()
        print("  load done; draining", flush=True)
        drained = drain(serve, receiver, ledger)
        memory.sample()
        result = totals(ledger, receiver, args.minutes, drained)
        print()
        print(table(("calls", "count"), result.rows))
        print()
        head = ("process", "count start / end", "RSS start MiB", "peak MiB", "end MiB")
        print(table(head, memory_rows(memory)))
        failed = result.lost > 0 or result.ran_refused > 0
        code = serve.stop()
        if code != 0:
            print(f"pyfaas serve stopped with exit code {code}", file=sys.stderr)
            failed = True
    finally:
        serve.stop()
        receiver.close()
        if failed:
            print(f"serve's log kept in {serve.log}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
