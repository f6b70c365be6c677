"""The HTTP server out of descriptors, in a process of its own with a small ``RLIMIT_NOFILE``.

The process lowers its soft limit, starts a listener, then opens files until
only a few descriptors are left, so ``accept`` fails with ``EMFILE`` while the
connection cap is still far away. The failure must be logged (once, not per
accept), must not stop the accept loop, and a real request must still be
answered: the server closes a connection that waits for a head to make room.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import ExitStack

import pytest

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
