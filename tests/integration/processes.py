"""Running the asynchronous path as separate real processes, for crash and scale-out tests.

``GatewayProcess`` and ``WorkerProcess`` start ``python -m pyfaas.gateway``
and ``python -m pyfaas.worker`` (optionally inside a network namespace, via
a command prefix), and can be killed with SIGKILL and started again on the
same port and state directory. ``Receiver`` is a callback receiver that
records the ``X-Call-Id`` and ``X-Function-Status`` of every callback.
``Submitter`` posts asynchronous calls with ids of its own choosing and
remembers which ones were answered 202.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import port_open, wait_for

FUNCTION = "sleepy"
RUN_SECONDS = 0.1


def function_spec(receiver: Receiver, tag: str = "-") -> dict[str, object]:
    """A classic-watchdog function on a watchdog base image that reports each run.

    Per call the watchdog forks ``curl``, which posts the request body (the
    call id) to the receiver's ``/run/<tag>``; the receiver answers after
    ``RUN_SECONDS``, so each run takes about that long. The tag tells which
    deployment of the function ran the call.
    """
    return {
        "service": FUNCTION,
        "image": "ghcr.io/openfaas/alpine:latest",
        "envProcess": f"curl -sS --fail --data-binary @- {receiver.base}/run/{tag}",
    }


class ManagedProcess:
    """One child process that can be started again after it was killed."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert not self.alive(), f"{self.name} is already running"
        with self.log.open("ab") as out:
            out.write(f"----- start {self.starts + 1} -----\n".encode())
            out.flush()
            # Its own session, so teardown can reach replicas it left behind.
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the process itself: no shutdown code runs."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; also reaps its process group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class GatewayProcess(ManagedProcess):
    """``python -m pyfaas.gateway`` with its own ``PYFAAS_HOME``.

    On port 0 (the default) the first start lets the gateway choose its port
    and reads it from the gateway's "Listening on" line; later starts (after a
    kill) ask for that same port again, so clients keep the URL they have.
    """

    def __init__(
        self,
        home: Path,
        queue_url: str,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        bind: str = "127.0.0.1",
        prefix: Sequence[str] = (),
        name: str = "gateway",
    ) -> None:
        env = {
            **os.environ,
            "PYFAAS_HOME": str(home),
            "PYFAAS_PORT": str(port),
            "PYFAAS_BIND": bind,
            "PYFAAS_QUEUE": queue_url,
            "PYFAAS_AUTOSCALE": "false",
        }
        argv = [*prefix, sys.executable, "-m", "pyfaas.gateway"]
        super().__init__(name, argv, env, home.parent / f"{name}.log")
        self.home = home
        self.port = port
        self.host = host

    @property
    def url(self) -> str:
        assert self.port, f"{self.name} has not said its port yet: start it first"
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        super().start()
        if not self.port:
            self.port = self._bound_port()
            self.env["PYFAAS_PORT"] = str(self.port)

    def _bound_port(self) -> int:
        """The port of this start's "Listening on" line, once the gateway has written it."""
        marker = f"----- start {self.starts} -----"
        found: list[int] = []

        def said() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.output()[-3000:]}")
            match = re.search(r"Listening on http://\S+:(\d+)", self.output().split(marker)[-1])
            if match:
                found.append(int(match.group(1)))
            return match is not None

        wait_for(said, timeout=60, interval=0.05)
        return found[0]

    def auth(self) -> tuple[str, str]:
        creds = self.home / "credentials"
        return (
            (creds / "basic-auth-user").read_text().strip(),
            (creds / "basic-auth-password").read_text().strip(),
        )

    def wait_healthy(self, timeout: float = 60.0) -> None:
        def healthy() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.output()[-3000:]}")
            if not port_open(self.port, self.host):
                return False
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=timeout, interval=0.05)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", auth=self.auth(), timeout=10, **kwargs)

    def deploy(self, spec: dict[str, object]) -> None:
        answer = self.api("POST", "/system/functions", json=spec)
        assert answer.status_code in (200, 202), answer.text

    def function_ready(self, name: str) -> bool:
        try:
            answer = self.api("GET", f"/system/function/{name}")
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("availableReplicas", 0) > 0

    def queue_stats(self) -> dict[str, int]:
        """The queue's totals; its rows per function (``functions``) are left out."""
        answer = self.api("GET", "/system/queue")
        assert answer.status_code == 200, answer.text
        return {k: int(v) for k, v in answer.json().items() if k != "functions"}

    def queue_settled(self) -> bool:
        """Nothing queued, running or dead (nor waiting for its delay or its next attempt)."""
        totals = {"queued": 0, "running": 0, "dead": 0, "delayed": 0, "retrying": 0}
        return totals | self.queue_stats() == totals

    def call_record(self, call_id: str) -> dict[str, Any]:
        answer = self.api("GET", f"/system/calls/{call_id}")
        assert answer.status_code == 200, f"{call_id}: {answer.status_code} {answer.text}"
        return dict(answer.json())


class WorkerProcess(ManagedProcess):
    """``python -m pyfaas.worker`` invoking through one gateway, with default retries.

    The lease (``ack_wait``) is short so that calls of a killed worker come
    back within seconds.
    """

    def __init__(
        self,
        home: Path,
        gateway_url: str,
        queue_url: str,
        *,
        max_inflight: int = 4,
        ack_wait: str = "5s",
        prefix: Sequence[str] = (),
        name: str = "worker",
    ) -> None:
        env = {
            **os.environ,
            "PYFAAS_HOME": str(home),
            "PYFAAS_GATEWAY": gateway_url,
            "PYFAAS_QUEUE": queue_url,
            "PYFAAS_WORKER_NAME": name,
            "max_inflight": str(max_inflight),
            "ack_wait": ack_wait,
            "invoke_timeout": "20s",
            "grace_period": "5s",
        }
        argv = [*prefix, sys.executable, "-m", "pyfaas.worker"]
        super().__init__(name, argv, env, home.parent / f"{name}.log")

    def wait_started(self, timeout: float = 30.0) -> None:
        def started() -> bool:
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.output()[-3000:]}")
            return self.output().count("Starting queue-worker.") >= self.starts

        wait_for(started, timeout=timeout, interval=0.05)


class Receiver:
    """A threaded HTTP server recording the function's runs and the worker's callbacks.

    ``POST /run/<tag>`` (from the function; body: the call id) counts a run and
    answers after ``RUN_SECONDS``; ``POST /callback`` (from the queue-worker)
    counts a callback by its ``X-Call-Id`` and ``X-Function-Status``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._runs: list[tuple[str, str]] = []
        self._callbacks: list[tuple[str, int]] = []
        self.server = ThreadingHTTPServer((host, 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://{host}:{self.server.server_address[1]}"
        self.url = f"{self.base}/callback"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.startswith("/run/"):
                    receiver.ran(body.decode(errors="replace").strip(), self.path[len("/run/") :])
                    time.sleep(RUN_SECONDS)  # the function's work
                else:
                    status = int(self.headers.get("X-Function-Status") or 0)
                    receiver.called_back(self.headers.get("X-Call-Id") or "", status)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def ran(self, call_id: str, tag: str) -> None:
        with self._lock:
            self._runs.append((call_id, tag))

    def called_back(self, call_id: str, status: int) -> None:
        with self._lock:
            self._callbacks.append((call_id, status))

    def runs(self) -> collections.Counter[str]:
        """How many times the function ran for each call id."""
        with self._lock:
            return collections.Counter(call_id for call_id, _ in self._runs)

    def runs_by_tag(self) -> collections.Counter[str]:
        """How many runs each tagged deployment of the function made."""
        with self._lock:
            return collections.Counter(tag for _, tag in self._runs)

    def succeeded(self) -> collections.Counter[str]:
        """How many 2xx callbacks each call id got."""
        with self._lock:
            return collections.Counter(c for c, status in self._callbacks if 200 <= status < 300)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Submitter:
    """Posts asynchronous calls, each with a fresh ``X-Call-Id``, and keeps the 202s.

    Thread-safe: several threads may submit at once.
    """

    def __init__(self, callback_url: str) -> None:
        self.callback_url = callback_url
        self.attempted: list[str] = []
        self.accepted: list[str] = []
        self.failed = 0
        self._lock = threading.Lock()
        self._clients: dict[str, httpx.Client] = {}

    def _client(self, gateway_url: str) -> httpx.Client:
        with self._lock:
            client = self._clients.get(gateway_url)
            if client is None:
                client = httpx.Client(base_url=gateway_url, timeout=10)
                self._clients[gateway_url] = client
            return client

    def attempt(self, gateway_url: str, function: str) -> tuple[str, httpx.Response]:
        """Post one call with a new id, noted as attempted; ``httpx.HTTPError`` for no answer."""
        call_id = str(uuid.uuid4())
        with self._lock:
            self.attempted.append(call_id)
        answer = self._client(gateway_url).post(
            f"/async-function/{function}",
            content=call_id.encode(),
            headers={"X-Call-Id": call_id, "X-Callback-Url": self.callback_url},
        )
        return call_id, answer

    def submit(self, gateway_url: str, function: str = FUNCTION) -> bool:
        try:
            call_id, answer = self.attempt(gateway_url, function)
        except httpx.HTTPError:
            answer = None
        with self._lock:
            if answer is None or answer.status_code != 202:
                self.failed += 1
                return False
            assert answer.headers["X-Call-Id"] == call_id
            self.accepted.append(call_id)
            return True

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
