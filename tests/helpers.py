"""Shared test support: free ports, readiness polling, a callback receiver, a real nats-server."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    """A port free now, for a server that must be told its port before it starts.

    Another process may take it before that server binds it: a server that can
    bind port 0 and say its port is started that way instead (the gateway,
    ``pyfaas serve``, the watchdog, nats-server). What is left needs a port
    known beforehand: a function's own server in the watchdog's http mode
    (the watchdog is given ``upstream_url`` before it starts that server).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[socket.socket]:
    """A socket bound to a port of its own choosing that does not listen, while the block runs.

    A connection to that port is refused, as to a server that is down, and no
    other process can take the port meanwhile (as it can one that
    ``free_port`` found and let go). A test that then brings a server up there
    calls ``listen()`` on the socket and hands it to the server.
    """
    with socket.socket() as sock:
        sock.bind((host, 0))
        yield sock


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``predicate`` until it is true; fail the test on time-out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def wait_for_line(path: Path, pattern: str, timeout: float = 20.0) -> re.Match[str]:
    """The first match of ``pattern`` in the file a process writes its output to, once written.

    How a test learns the port of a server it started on port 0: the server says it.
    """
    found: list[re.Match[str]] = []

    def written() -> bool:
        text = path.read_text(errors="replace") if path.exists() else ""
        match = re.search(pattern, text)
        if match:
            found.append(match)
        return match is not None

    wait_for(written, timeout=timeout)
    return found[0]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def nats_server_binary() -> str | None:
    found = shutil.which("nats-server")
    if found:
        return found
    return "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None


class NatsServer:
    """A real nats-server with JetStream, its store in ``directory``.

    It listens on ``host`` (loopback unless told otherwise). The first start
    lets the server choose its port (``-p -1``) and reads it back from the
    server's ports file, so no other process can take it in between; a later
    start (after ``stop``) asks for that same port again, so clients
    reconnect to the URL they have.
    """

    def __init__(self, directory: Path, host: str = "127.0.0.1") -> None:
        binary = nats_server_binary()
        if binary is None:
            raise RuntimeError("nats-server is not installed: run scripts/system-deps")
        self.port = 0
        self.host = host
        self.url = ""
        self._ports = directory / "ports"
        self._cmd = [binary, "-a", host, "-js", "-sd", str(directory)]
        self._cmd += ["--ports_file_dir", str(self._ports)]
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsServer:
        self._ports.mkdir(parents=True, exist_ok=True)
        port = ["-p", str(self.port)] if self.port else ["-p", "-1"]
        self._proc = subprocess.Popen(
            [*self._cmd, *port], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not self.port:
            self.port = self._bound_port(self._proc)
            self.url = f"nats://{self.host}:{self.port}"
        wait_for(lambda: port_open(self.port, self.host), timeout=10)
        return self

    def _bound_port(self, proc: subprocess.Popen[bytes]) -> int:
        """The client port the server wrote to ``<name>_<pid>.ports`` once listening."""
        found: list[int] = []

        def written() -> bool:
            for path in self._ports.glob(f"*_{proc.pid}.ports"):
                try:
                    urls = json.loads(path.read_text())["nats"]
                except (ValueError, KeyError):
                    return False  # still being written
                found.append(int(urls[0].rsplit(":", 1)[1]))
                return True
            if proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with status {proc.returncode}")
            return False

        wait_for(written, timeout=10)
        return found[0]

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


class CallbackReceiver:
    """A threaded HTTP server recording every POST (headers, body), like requestbin."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append((dict(self.headers.items()), self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
