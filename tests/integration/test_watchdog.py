"""The watchdog as a real process: classic, http and inproc modes, limits, drain."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, wait_for
from tests.proctree import descendants, survivors

pytestmark = pytest.mark.integration


class WatchdogProcess:
    """``python -m pyfaas.watchdog`` with its stdout collected line by line."""

    def __init__(
        self,
        env: dict[str, str],
        cwd: Path,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        full = {**os.environ, "port": "0", "TMPDIR": str(cwd), **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyfaas.watchdog"],
            env=full,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.port = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def wait_listening(self) -> WatchdogProcess:
        wait_for(lambda: self.logged("Listening on port: ") or self.proc.poll() is not None)
        line = next(line for line in self.lines if "Listening on port: " in line)
        self.port = int(line.rsplit(" ", 1)[1])
        return self

    def wait_healthy(self) -> WatchdogProcess:
        if not self.port:
            self.wait_listening()
        wait_for(lambda: self._health() == 200, timeout=15)
        return self

    def _health(self) -> int:
        try:
            return httpx.get(self.url("/_/health"), timeout=1).status_code
        except httpx.HTTPError:
            return 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()  # the pipe is ours to close, the reader has seen its end


@pytest.fixture
def watchdog(tmp_path: Path) -> Iterator[type[WatchdogProcess]]:
    started: list[WatchdogProcess] = []

    class Started(WatchdogProcess):
        def __init__(self, env: dict[str, str], cwd: Path = tmp_path, **kw: object) -> None:
            super().__init__(env, cwd, **kw)  # type: ignore[arg-type]
            started.append(self)

    yield Started
    for proc in started:
        proc.stop()


def script(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


# -- classic mode ------------------------------------------------------------


def test_classic_cat_echoes_and_logs(watchdog: type[WatchdogProcess]) -> None:
    wd = watchdog({"fprocess": "cat"}).wait_healthy()
    response = httpx.post(wd.url(), content=b"hello world", headers={"Content-Type": "text/x"})
    assert response.status_code == 200
    assert response.text == "hello world"
    assert response.headers["content-type"] == "text/x"
    assert float(response.headers["x-duration-seconds"]) >= 0
    wait_for(lambda: wd.logged("Wrote 11 Bytes - Duration:"))
    forking = next(line for line in wd.lines if line.endswith("Forking fprocess."))
    # Go's log prefix: "2026/01/02 15:04:05 "
    assert re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d Forking fprocess\.$", forking)


@pytest.mark.parametrize("server", ["httptools", "aiohttp"])
def test_classic_large_and_chunked_bodies(watchdog: type[WatchdogProcess], server: str) -> None:
    wd = watchdog({"fprocess": "cat", "PYFAAS_WATCHDOG_SERVER": server}).wait_healthy()
    big = os.urandom(3 * 1024 * 1024)
    response = httpx.post(wd.url(), content=big, timeout=30)
    assert response.status_code == 200
    assert response.content == big
    chunked = httpx.post(wd.url(), content=iter([b"one ", b"two"]))
    assert chunked.content == b"one two"
    continued = subprocess.run(
        ["curl", "-s", "-H", "Expect: 100-continue", "--data-binary", "@-", wd.url()],
        input=b"x" * 2048,
        capture_output=True,
        timeout=10,
        check=True,
    )
    assert continued.stdout == b"x" * 2048


@pytest.mark.parametrize("server", ["httptools", "aiohttp"])
def test_an_unknown_expectation_is_a_one_line_417(
    watchdog: type[WatchdogProcess], server: str
) -> None:
    wd = watchdog({"fprocess": "cat", "PYFAAS_WATCHDOG_SERVER": server}).wait_healthy()
    response = httpx.post(wd.url(), content=b"x", headers={"Expect": "the-impossible"})
    assert response.status_code == 417
    assert response.text.count("\n") == 1, response.text
    assert "expectation" in response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_classic_env_shows_the_request(watchdog: type[WatchdogProcess]) -> None:
    wd = watchdog({"fprocess": "env", "custom_env": "custom_env_value"}).wait_healthy()
    response = httpx.get(wd.url("/some/path?a=1"), headers={"X-Custom-Header": "yes"})
    assert response.status_code == 200
    lines = set(response.text.splitlines())
    assert {"Http_Method=GET", "Http_Query=a=1", "Http_Path=/some/path"} <= lines
    assert "Http_X_Custom_Header=yes" in lines
    assert "custom_env=custom_env_value" in lines
    assert f"Http_Host=127.0.0.1:{wd.port}" in lines


def test_classic_nonzero_exit_is_500(watchdog: type[WatchdogProcess], tmp_path: Path) -> None:
    fail = script(tmp_path, "fail.sh", "echo partial\nexit 3\n")
    wd = watchdog({"fprocess": f"sh {fail}"}).wait_healthy()
    response = httpx.post(wd.url(), content=b"x")
    assert response.status_code == 500
    assert response.text == "exit status 3\npartial\n"


def test_classic_exec_timeout_kills_the_process(
    watchdog: type[WatchdogProcess], tmp_path: Path
) -> None:
    pidfile = tmp_path / "pid"
    slow = script(tmp_path, "slow.sh", f"echo $$ > {pidfile}\nexec sleep 30\n")
    wd = watchdog({"fprocess": f"sh {slow}", "exec_timeout": "500ms"}).wait_healthy()
    response = httpx.post(wd.url(), content=b"x", timeout=10)
    assert response.status_code == 408
    assert response.text == "Killed process.\n"
    pid = int(pidfile.read_text())
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=5)


def test_classic_separate_stderr_is_logged(watchdog: type[WatchdogProcess], tmp_path: Path) -> None:
    both = script(tmp_path, "both.sh", "echo out\necho oops >&2\n")
    wd = watchdog({"fprocess": f"sh {both}", "combine_output": "false"}).wait_healthy()
    response = httpx.post(wd.url(), content=b"")
    assert response.text == "out\n"
    wait_for(lambda: wd.logged("stderr: oops"))


def test_max_inflight_refuses_the_second_call(
    watchdog: type[WatchdogProcess], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    wait = script(tmp_path, "wait.sh", f"while [ ! -e {gate} ]; do sleep 0.02; done\necho done\n")
    wd = watchdog({"fprocess": f"sh {wait}", "max_inflight": "1"}).wait_healthy()
    first: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: first.append(httpx.post(wd.url(), timeout=20)))
    caller.start()
    wait_for(lambda: wd.logged("Forking fprocess."))
    second = httpx.post(wd.url(), content=b"x")
    ready = httpx.get(wd.url("/_/ready"))
    gate.touch()
    caller.join(timeout=20)
    assert second.status_code == 429
    assert second.text == "Concurrent request limit exceeded. Max concurrent requests: 1\n"
    assert second.headers["x-openfaas-internal"] == "faas-middleware"
    assert ready.status_code == 429
    assert first[0].status_code == 200
    assert first[0].text == "done\n"


def test_sigterm_drains_the_call_in_flight(watchdog: type[WatchdogProcess], tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    wait = script(tmp_path, "wait.sh", f"while [ ! -e {gate} ]; do sleep 0.02; done\necho done\n")
    wd = watchdog({"fprocess": f"sh {wait}"}).wait_healthy()
    assert (tmp_path / ".lock").exists()
    first: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: first.append(httpx.post(wd.url(), timeout=20)))
    caller.start()
    wait_for(lambda: wd.logged("Forking fprocess."))
    wd.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: not (tmp_path / ".lock").exists())
    assert wd.proc.poll() is None  # still draining
    gate.touch()
    caller.join(timeout=20)
    assert first[0].status_code == 200
    assert first[0].text == "done\n"
    assert wd.proc.wait(timeout=10) == 0


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(child) for child in f.read().split()]


def test_classic_processes_share_the_socket_and_stop_together(
    watchdog: type[WatchdogProcess],
) -> None:
    wd = watchdog({"fprocess": "cat", "PYFAAS_WATCHDOG_PROCESSES": "2"}).wait_healthy()
    assert wd.logged("Started 2 processes on the listening socket")
    (other,) = _children(wd.proc.pid)
    # With the first process stopped, the other one takes the connections.
    wd.proc.send_signal(signal.SIGSTOP)
    try:
        for i in range(3):
            with httpx.Client(timeout=5) as client:
                assert client.post(wd.url(), content=f"call {i}").text == f"call {i}"
    finally:
        wd.proc.send_signal(signal.SIGCONT)
    wd.proc.send_signal(signal.SIGTERM)
    assert wd.proc.wait(timeout=10) == 0
    assert not os.path.exists(f"/proc/{other}")  # reaped by the first process


def test_a_classic_process_that_dies_stops_the_replica(watchdog: type[WatchdogProcess]) -> None:
    wd = watchdog({"fprocess": "cat", "PYFAAS_WATCHDOG_PROCESSES": "2"}).wait_healthy()
    (other,) = _children(wd.proc.pid)
    os.kill(other, signal.SIGKILL)
    assert wd.proc.wait(timeout=10) == 1  # so that the provider starts it again
    wait_for(lambda: wd.logged(f"watchdog process {other} exited (signal 9): stopping"))


def test_listen_fd_is_served(watchdog: type[WatchdogProcess]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    try:
        wd = watchdog({"fprocess": "cat", "PYFAAS_LISTEN_FD": str(fd)}, pass_fds=(fd,))
        wd.wait_listening()
        assert wd.port == port
        wd.wait_healthy()
        assert httpx.post(wd.url(), content=b"via fd").text == "via fd"
    finally:
        sock.close()


# -- http mode ---------------------------------------------------------------

UPSTREAM = """
import os, sys
from aiohttp import web

async def handle(request):
    if request.path == "/redirect":
        raise web.HTTPFound("/elsewhere")
    if request.path == "/exit":
        os._exit(3)
    body = await request.read()
    print("got", request.method, request.path_qs, flush=True)
    return web.Response(body=body, headers={"X-Upstream": "yes", "X-Chunked":
        request.headers.get("Transfer-Encoding", "")})

app = web.Application()
app.router.add_route("*", "/{tail:.*}", handle)
web.run_app(app, host="127.0.0.1", port=int(os.environ["UPSTREAM_PORT"]), print=None)
"""


def start_http_mode(watchdog: type[WatchdogProcess], tmp_path: Path) -> WatchdogProcess:
    upstream = script(tmp_path, "upstream.py", UPSTREAM)
    # Known before anything starts: the watchdog is told upstream_url, then forks the server.
    port = free_port()
    env = {
        "mode": "http",
        "fprocess": f"{sys.executable} {upstream}",
        "upstream_url": f"http://127.0.0.1:{port}",
        "UPSTREAM_PORT": str(port),
    }
    return watchdog(env).wait_healthy()


def test_http_mode_proxies_and_passes_redirects(
    watchdog: type[WatchdogProcess], tmp_path: Path
) -> None:
    wd = start_http_mode(watchdog, tmp_path)
    assert wd.logged("Forking: ")
    response = httpx.post(wd.url("/echo?q=1"), content=b"payload")
    assert response.status_code == 200
    assert response.text == "payload"
    assert response.headers["x-upstream"] == "yes"
    assert "x-duration-seconds" in response.headers
    chunked = httpx.post(wd.url("/echo"), content=iter([b"a", b"b"]))
    assert chunked.text == "ab"
    redirect = httpx.get(wd.url("/redirect"))
    assert redirect.status_code == 302
    assert redirect.headers["location"] == "/elsewhere"
    wait_for(lambda: wd.logged("stdout: got POST /echo?q=1"))


def test_http_mode_exits_when_the_function_dies(
    watchdog: type[WatchdogProcess], tmp_path: Path
) -> None:
    wd = start_http_mode(watchdog, tmp_path)
    response = httpx.get(wd.url("/exit"))
    assert response.status_code == 500
    assert response.headers["x-openfaas-internal"] == "of-watchdog"
    assert wd.proc.wait(timeout=10) != 0
    assert wd.logged("Forked function has terminated")


def test_http_mode_function_dies_with_a_killed_watchdog(
    watchdog: type[WatchdogProcess], tmp_path: Path
) -> None:
    wd = start_http_mode(watchdog, tmp_path)
    below = descendants(wd.proc.pid)
    assert below, "the function's server runs below the watchdog"
    wd.proc.kill()  # no shutdown code runs
    wd.proc.wait(timeout=10)
    assert survivors(below, within=10) == []


# -- inproc mode -------------------------------------------------------------

HANDLER = """
import asyncio, os, time

def handle(event, context):
    if event.path == "/slow":
        time.sleep(0.05)
        return "slow"
    if event.path == "/gate":
        while not os.path.exists(event.query["file"]):
            time.sleep(0.01)
        return "opened"
    if event.path == "/dict":
        return {"statusCode": 201, "body": {"got": event.body.decode(), "q": event.query},
                "headers": {"X-Handler": context.hostname}}
    if event.path == "/boom":
        raise ValueError("boom went the handler")
    return "hello " + event.method

async def handle_async(event, context):
    await asyncio.sleep(0)
    return {"body": "async " + event.headers["x-name"]}
"""


def inproc(watchdog: type[WatchdogProcess], tmp_path: Path, handler: str) -> WatchdogProcess:
    (tmp_path / "function").mkdir(exist_ok=True)
    (tmp_path / "function" / "__init__.py").write_text("")
    script(tmp_path / "function", "handler.py", HANDLER)
    env = {"mode": "inproc", "PYFAAS_HANDLER": handler, "HOSTNAME": "replica-1"}
    return watchdog(env)


def test_inproc_handler_returns(watchdog: type[WatchdogProcess], tmp_path: Path) -> None:
    wd = inproc(watchdog, tmp_path, "function.handler:handle").wait_healthy()
    response = httpx.post(wd.url("/dict?q=1"), content=b"in")
    assert response.status_code == 201
    assert response.json() == {"got": "in", "q": {"q": "1"}}
    assert response.headers["x-handler"] == "replica-1"
    assert httpx.get(wd.url("/")).text == "hello GET"
    failed = httpx.get(wd.url("/boom"))
    assert failed.status_code == 500
    assert failed.text == "ValueError: boom went the handler\n"
    wait_for(lambda: wd.logged("Traceback"))


def test_inproc_async_handler(watchdog: type[WatchdogProcess], tmp_path: Path) -> None:
    wd = inproc(watchdog, tmp_path, "function.handler:handle_async").wait_healthy()
    response = httpx.get(wd.url("/"), headers={"X-Name": "bob"})
    assert response.status_code == 200
    assert response.text == "async bob"


def test_inproc_import_error_exits(watchdog: type[WatchdogProcess], tmp_path: Path) -> None:
    wd = inproc(watchdog, tmp_path, "function.missing:handle")
    assert wd.proc.wait(timeout=15) != 0
    assert wd.logged("cannot import 'function.missing'")


def test_inproc_slow_handler_moves_to_threads(
    watchdog: type[WatchdogProcess], tmp_path: Path
) -> None:
    wd = inproc(watchdog, tmp_path, "function.handler:handle").wait_healthy()
    assert httpx.get(wd.url("/slow")).text == "slow"
    wait_for(lambda: wd.logged("Handler is slow"))
    gate = tmp_path / "gate"
    first: list[httpx.Response] = []
    url = wd.url(f"/gate?file={gate}")
    caller = threading.Thread(target=lambda: first.append(httpx.get(url, timeout=20)))
    caller.start()
    try:
        # The blocked handler runs in a thread: the loop still answers.
        assert httpx.get(wd.url("/_/health"), timeout=5).status_code == 200
        assert httpx.get(wd.url("/"), timeout=5).text == "hello GET"
    finally:
        gate.touch()
        caller.join(timeout=20)
    assert first[0].text == "opened"


def test_metrics_count_every_process_of_a_replica(watchdog: type[WatchdogProcess]) -> None:
    wd = watchdog({"fprocess": "cat", "PYFAAS_WATCHDOG_PROCESSES": "2"}).wait_healthy()
    wait_for(lambda: wd.logged("Started 2 processes on the listening socket"))
    for _ in range(12):
        # A new connection each time: the kernel spreads them over both processes.
        assert httpx.post(wd.url(), content=b"x").status_code == 200
    assert httpx.get(wd.url("/nothing"), params={"q": "1"}).status_code == 200
    text = httpx.get(wd.url("/_/metrics")).text
    assert 'http_requests_total{code="200",method="post"} 12.0' in text
    assert 'http_requests_total{code="200",method="get"} 1.0' in text
    assert 'http_request_duration_seconds_count{code="200",method="post"} 12.0' in text
    assert "http_requests_in_flight 0.0" in text
