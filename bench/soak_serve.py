"""The soak's ``pyfaas serve``: started in its own session, its processes found and killed.

``Serve`` runs ``pyfaas serve`` on 127.0.0.1 port 0 (serve picks a free one
and says which in its "serving on" line) with a home of its own and the
settings of the soak (``SERVE_ENV``), and talks to its API. The processes
below it are found through ``/proc`` (``descendants``), told apart by their
command lines (``KINDS``); ``kill`` SIGKILLs the one process of a kind
(``KILLED``: the ones the soak kills), and ``stop`` kills every process ever
seen below serve that is still the same process (same start time).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from bench.procs import wait_for

PYFAAS = [sys.executable, "-c", "from pyfaas.cli.main import main; main()"]
SERVING = re.compile(r"pyfaas is serving on (http://\S+:\d+)")
INFLIGHT = 4
SERVE_ENV = {
    "PYFAAS_AUTOSCALE": "false",
    "PYFAAS_REPLICA_STOP_TIMEOUT": "2s",
    "max_inflight": str(INFLIGHT),
    "ack_wait": "5s",  # a killed worker's calls come back within seconds
    "invoke_timeout": "20s",
    "grace_period": "5s",
}
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


# -- pyfaas serve --------------------------------------------------------------


class Serve:
    """``pyfaas serve`` in its own session; its processes found through ``/proc``."""

    def __init__(self, root: Path) -> None:
        self.home = root / "home"
        self.url = ""  # said by serve once it serves
        self.log = root / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen: set[tuple[int, int | None]] = set()  # (pid, start): killed at the end

    def start(self) -> None:
        argv = [*PYFAAS, "serve", "--port", "0", "--home", str(self.home)]
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
        said = SERVING.search(self.output())
        if said:
            self.url = said.group(1)
        return said is not None and self.healthy()

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
