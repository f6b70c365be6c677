"""The HTTP server's limits in real processes: out of descriptors, and the watchdog's cap.

The process lowers its soft limit, starts a listener, then opens files until
only a few descriptors are left, so ``accept`` fails with ``EMFILE`` while the
connection cap is still far away. The failure must be logged (once, not per
accept), must not stop the accept loop, and a real request must still be
answered: the server closes a connection that waits for a head to make room.
The watchdog, with a small cap and ``read_timeout``, answers its health check
and real calls through a crowd of half-sent heads, and cuts a late head.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.test_watchdog import WatchdogProcess

pytestmark = pytest.mark.integration

SERVER = r"""
import asyncio, os, resource, sys
import uvloop
from pyfaas.httpd.limits import Limits
from pyfaas.httpd.messages import Response
from pyfaas.httpd.server import Listener, listening_socket

async def handle(request):
    return Response(200, [], b"ok")

def log(line):
    print(line, file=sys.stderr, flush=True)

async def main():
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    sock = listening_socket("127.0.0.1", 0)
    listener = Listener(handle, Limits(read_timeout=30), log)
    await listener.start(sock)
    hog = []
    try:
        while True:
            hog.append(os.open("/dev/null", os.O_RDONLY))
    except OSError:
        pass
    for fd in hog[-6:]:  # a few left: some connections, then EMFILE
        os.close(fd)
    print(sock.getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

uvloop.run(main())
"""


def test_out_of_descriptors_is_logged_once_and_a_real_call_still_gets_through() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with ExitStack() as stack:
            slow = []
            for _ in range(20):  # more than the descriptors left
                sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), 5))
                sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                slow.append(sock)
            started = time.monotonic()
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", port), 10) as real:
                    real.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    answer = b""
                    while chunk := real.recv(4096):
                        answer += chunk
                assert answer.startswith(b"HTTP/1.1 200 OK"), answer
            assert time.monotonic() - started < 10
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=10)
    failures = [line for line in err.splitlines() if "accepting connections failed" in line]
    assert len(failures) == 1, err
    assert "Too many open files" in failures[0]


@pytest.fixture
def capped_watchdog(tmp_path: Path) -> Iterator[WatchdogProcess]:
    env = {
        "fprocess": "cat",
        "PYFAAS_WATCHDOG_PROCESSES": "1",
        "PYFAAS_MAX_CONNECTIONS": "8",
        "read_timeout": "1s",
    }
    wd = WatchdogProcess(env, tmp_path)
    try:
        yield wd.wait_healthy()
    finally:
        wd.stop()


def test_the_watchdog_keeps_serving_at_its_cap_and_cuts_a_late_head(
    capped_watchdog: WatchdogProcess,
) -> None:
    wd = capped_watchdog
    with ExitStack() as stack:
        for _ in range(30):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", wd.port), 5))
            sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Le")
        assert httpx.get(wd.url("/_/health"), timeout=5).status_code == 200
        response = httpx.post(wd.url(), content=b"still here", timeout=5)
        assert (response.status_code, response.content) == (200, b"still here")
        wait_for(lambda: wd.logged("connection limit 8 reached: closed "))
    with socket.create_connection(("127.0.0.1", wd.port), 10) as late:
        started = time.monotonic()
        late.sendall(b"GET /_/health HTTP/1.1\r\nHost: t\r\n")
        answer = b""
        while chunk := late.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
        assert answer.endswith(b"\r\n\r\nrequest head not received within 1s\n")
        assert 0.9 <= time.monotonic() - started < 10


def _exchange(port: int, data: bytes, then: bytes = b"") -> bytes:
    """Send ``data``; once something comes back, send ``then``; return all until close."""
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.sendall(data)
        answer = sock.recv(65536)
        if then:
            sock.sendall(then)
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("server", ["httptools", "aiohttp"])
def test_the_watchdog_answers_expect_once_on_either_server(tmp_path: Path, server: str) -> None:
    env = {"fprocess": "cat", "PYFAAS_WATCHDOG_PROCESSES": "1", "PYFAAS_WATCHDOG_SERVER": server}
    wd = WatchdogProcess(env, tmp_path)
    try:
        wd.wait_healthy()
        head = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n"
        answer = _exchange(wd.port, head + b"Expect: 100-continue\r\n\r\n", then=b"hello")
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), answer
        assert answer.count(b" 100 Continue") == 1
        assert answer.endswith(b"\r\n\r\nhello")
        refused = _exchange(wd.port, head + b"Expect: the-moon\r\n\r\nhello")
        assert refused.startswith(b"HTTP/1.1 417 Expectation Failed\r\n"), refused
    finally:
        wd.stop()
