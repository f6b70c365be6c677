"""The processes a run needs: gateways, queue-workers, the echo server, nats-server.

Each is a real child process on a 127.0.0.1 port it chose itself (port 0;
the port is read back from what it says once it listens: the gateway's
``Listening on`` line, the echo server's ``listening`` line, nats-server's
ports file) with its own state directory; ``Stack`` stops every one it
started, whatever happens, and a run killed outright takes them along
(``pyfaas._children``: each asks the kernel for SIGKILL when the run dies).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from pyfaas._children import die_with_parent

WORKER_STARTED = "Starting queue-worker."


def wait_for(
    what: str, predicate: Callable[[], bool], timeout: float = 60.0, interval: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Child:
    """One child process in its own session, its output in a log file, dying with the run."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check(self) -> bool:
        """True while running; raises with the end of its log once it exited."""
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{self.name} exited:\n{tail}")
        return True

    def said_port(self, pattern: str, offset: int = 0) -> int:
        """The port in the first match of ``pattern`` in its log after ``offset``, once written."""
        found: list[int] = []

        def said() -> bool:
            self.check()
            with self.log.open("rb") as log:
                log.seek(offset)
                match = re.search(pattern, log.read().decode(errors="replace"))
            if match:
                found.append(int(match.group(1)))
            return match is not None

        wait_for(f"the port of {self.name}", said)
        return found[0]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Replicas are in the gateway's session: make sure none outlives it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None


class Gateway(Child):
    """``python -m pyfaas.gateway`` with its own ``PYFAAS_HOME``; the API over urllib.

    Its first start is on port 0, read back from its ``Listening on`` line; a
    later start asks for that port again, so the URL stays.
    """

    def __init__(self, home: Path, queue_url: str, extra: dict[str, str] | None = None) -> None:
        self.home, self.port = home, 0
        env = {
            **os.environ,
            "PYFAAS_HOME": str(home),
            "PYFAAS_PORT": "0",
            "PYFAAS_QUEUE": queue_url,
            "PYFAAS_AUTOSCALE": "false",
            **(extra or {}),
        }
        log = home.parent / f"{home.name}-gateway.log"
        super().__init__("gateway", [sys.executable, "-m", "pyfaas.gateway"], env, log)

    @property
    def url(self) -> str:
        assert self.port, "the gateway has not said its port yet: start it first"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        offset = self.log.stat().st_size if self.log.exists() else 0
        super().start()
        self.port = self.said_port(r"Listening on http://\S+:(\d+)", offset)
        self.env["PYFAAS_PORT"] = str(self.port)
        return self

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            self.check()
            return port_open(self.port) and self.api("GET", "/healthz")[0] == 200

        wait_for("the gateway", healthy)

    def _auth(self) -> str:
        creds = self.home / "credentials"
        user = (creds / "basic-auth-user").read_text().strip()
        password = (creds / "basic-auth-password").read_text().strip()
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if path.startswith("/system"):
            request.add_header("Authorization", self._auth())
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return int(answer.status), bytes(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, ConnectionError):
            return 0, b""

    def deploy(self, spec: dict[str, Any]) -> None:
        status, body = self.api("POST", "/system/functions", spec)
        if status not in (200, 202):
            raise RuntimeError(f"deploy {spec['service']}: {status} {body.decode()}")

    def delete(self, name: str) -> None:
        self.api("DELETE", "/system/functions", {"functionName": name})

    def invoke(self, name: str) -> int:
        request = urllib.request.Request(f"{self.url}/function/{name}", data=b"x", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def available(self, name: str) -> int:
        status, body = self.api("GET", f"/system/function/{name}")
        return int(json.loads(body).get("availableReplicas", 0)) if status == 200 else 0

    def wait_ready(self, name: str) -> None:
        wait_for(f"function {name}", lambda: self.available(name) > 0 and self.invoke(name) == 200)

    def queue_stats(self) -> dict[str, int]:
        status, body = self.api("GET", "/system/queue")
        if status != 200:
            raise RuntimeError(f"queue stats: {status} {body.decode()}")
        # The totals; the per-function rows ("functions") are not needed here.
        return {k: int(v) for k, v in json.loads(body).items() if not isinstance(v, list)}

    def call_record(self, call_id: str) -> dict[str, Any]:
        status, body = self.api("GET", f"/system/calls/{call_id}")
        if status != 200:
            raise RuntimeError(f"call {call_id}: {status} {body.decode()}")
        found: dict[str, Any] = json.loads(body)
        return found


class Worker(Child):
    """``python -m pyfaas.worker`` invoking through one gateway."""

    def __init__(self, gateway: Gateway, queue_url: str, max_inflight: int) -> None:
        env = {
            **os.environ,
            "PYFAAS_HOME": str(gateway.home),
            "PYFAAS_GATEWAY": gateway.url,
            "PYFAAS_QUEUE": queue_url,
            "max_inflight": str(max_inflight),
        }
        log = gateway.home.parent / f"{gateway.home.name}-worker-{max_inflight}.log"
        log.unlink(missing_ok=True)
        super().__init__("queue-worker", [sys.executable, "-m", "pyfaas.worker"], env, log)

    def wait_started(self) -> None:
        def started() -> bool:
            self.check()
            return WORKER_STARTED in self.log.read_text(errors="replace")

        wait_for("the queue-worker", started)


def echo_server(directory: Path) -> tuple[Child, int]:
    log = directory / "echo.log"
    offset = log.stat().st_size if log.exists() else 0
    argv = [sys.executable, "-m", "bench.echo", "0"]
    child = Child("echo", argv, dict(os.environ), log).start()
    return child, child.said_port(r"listening (\d+)", offset)


def nats_server(directory: Path) -> tuple[Child, int] | None:
    found = _nats_server(directory, monitor=False)
    return None if found is None else found[:2]


def monitored_nats_server(directory: Path) -> tuple[Child, int, int] | None:
    """A nats-server with its monitoring port (``/varz``): itself, its port, that port."""
    return _nats_server(directory, monitor=True)


def _nats_server(directory: Path, monitor: bool) -> tuple[Child, int, int] | None:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(binary).exists():
        return None
    store, ports = directory / "jetstream", directory / "nats-ports"
    ports.mkdir(parents=True, exist_ok=True)
    # -1: the server picks its ports and writes them to its ports file once listening.
    argv = [binary, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", str(store)]
    argv += ["--ports_file_dir", str(ports), *(["-m", "-1"] if monitor else [])]
    child = Child("nats-server", argv, dict(os.environ), directory / "nats.log").start()
    said = _nats_ports(child, ports)
    return child, said["nats"], said.get("monitoring", 0)


def _nats_ports(child: Child, directory: Path) -> dict[str, int]:
    """The ports nats-server wrote to ``<name>_<pid>.ports``, by kind (nats, monitoring)."""
    assert child.proc is not None
    pid = child.proc.pid
    found: dict[str, int] = {}

    def written() -> bool:
        child.check()
        try:  # named after the binary, which may be a link of another name
            urls = json.loads(next(directory.glob(f"*_{pid}.ports")).read_text())
        except (StopIteration, OSError, ValueError):  # not there yet, or half written
            return False
        found.update({kind: int(addrs[0].rsplit(":", 1)[1]) for kind, addrs in urls.items()})
        return "nats" in found

    wait_for("nats-server's ports file", written)
    return found


# Counting the queue costs the gateway about 1.5 ms of CPU at 20,000 calls,
# more on a larger backlog: asked every 20 ms, it would take a good part of a
# core from the drain being timed.
QUEUE_POLL_SECONDS = 0.25


def wait_drained(gateway: Gateway, worker: Worker, what: str, timeout: float) -> None:
    """Wait until nothing is queued or running (dead letters aside), the worker alive."""

    def drained() -> bool:
        worker.check()  # raises with the worker's log if it died
        stats = gateway.queue_stats()
        return stats["queued"] + stats["running"] == 0

    wait_for(what, drained, timeout, QUEUE_POLL_SECONDS)
