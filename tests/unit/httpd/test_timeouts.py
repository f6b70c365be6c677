"""Each timeout, small as a test can make it, with generous upper bounds."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from pyfaas.httpd.limits import Limits
from tests.unit.httpd.harness import LOOPS, ServerThread, get, wait_until

# Every timeout of these tests; a wait is checked to last at least most of it.
T = 0.05
SHORT = Limits(read_timeout=T, write_timeout=T, idle_timeout=T)
AT_LEAST = 0.8 * T


@pytest.fixture(params=list(LOOPS))
def quick(request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    with ServerThread(SHORT, loop_kind=request.param) as running:
        yield running


def test_a_half_sent_head_gets_408_then_close(quick: ServerThread) -> None:
    with quick.client() as client:
        started = time.monotonic()
        client.send(b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Slow:")
        reply = client.response()
        assert (reply.status, reply.headers["connection"]) == (408, "close")
        assert reply.body == f"request head not received within {T}s\n".encode()
        assert client.closed()
    assert AT_LEAST <= time.monotonic() - started < 5


def test_a_trickled_head_is_cut_at_the_deadline_not_kept_alive_by_each_byte(
    quick: ServerThread,
) -> None:
    with quick.client() as client:
        started = time.monotonic()
        client.send(b"GET /echo HTTP/1.1\r\n")
        client.sock.settimeout(T / 4)
        for _ in range(160):  # 2 s of one byte every T / 4, until the server answers
            try:
                client.send(b"X")
                if not client._fill() or b"\r\n\r\n" in client._buf:
                    break
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        assert client._buf.startswith(b"HTTP/1.1 408 Request Timeout")
    assert time.monotonic() - started < 5


def test_a_silent_connection_is_closed_without_a_response(quick: ServerThread) -> None:
    with quick.client() as client:
        started = time.monotonic()
        assert client.closed(within=5)
        assert client.pending() == b""
    assert AT_LEAST <= time.monotonic() - started < 5


def test_an_idle_keep_alive_connection_is_closed(quick: ServerThread) -> None:
    with quick.client() as client:
        client.send(get("/echo"))
        assert client.response().status == 200
        started = time.monotonic()
        assert client.closed(within=5)
    assert AT_LEAST <= time.monotonic() - started < 5


def test_a_stalled_body_gets_408_then_close(quick: ServerThread) -> None:
    with quick.client() as client:
        client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nhalf")
        started = time.monotonic()
        reply = client.response()
        assert reply.status == 408
        assert reply.body == f"request body stalled for {T}s\n".encode()
        assert client.closed()
    assert AT_LEAST <= time.monotonic() - started < 5


@pytest.mark.integration  # waits seconds of real time
def test_a_body_that_keeps_coming_is_not_cut() -> None:
    # A stall limit, not a deadline for the whole body: 2 s of body, never 1 s without a byte.
    limits = Limits(read_timeout=1.0)
    with ServerThread(limits) as running, running.client() as client:
        client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 20\r\n\r\n")
        for _ in range(20):
            time.sleep(0.1)
            client.send(b"x")
        reply = client.response()
    assert (reply.status, reply.body) == (200, b"x" * 20)


def test_a_slow_handler_is_not_a_read_timeout(quick: ServerThread) -> None:
    with quick.client() as client:
        client.send(get(f"/echo?s={3 * T}"))  # three times read_timeout
        assert client.response().status == 200


def test_a_client_that_reads_nothing_is_cut_after_write_timeout(quick: ServerThread) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", quick.port))
    with sock:
        sock.sendall(get("/stream?n=10000&size=65536"))
        started = time.monotonic()
        wait_until(lambda: quick.connections() == 1)
        # Read nothing: the server's writes stall, and it must give up on us.
        wait_until(lambda: quick.connections() == 0)
    assert AT_LEAST <= time.monotonic() - started < 10


def test_a_slow_but_steady_reader_is_served_whole() -> None:
    limits = Limits(read_timeout=T, write_timeout=1.0, idle_timeout=T)
    with ServerThread(limits) as running, running.client(timeout=10) as client:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        client.send(get("/big?size=2097152"))
        received = 0
        while b"\r\n\r\n" not in client._buf:
            client._fill()
        _head, rest = client._buf.split(b"\r\n\r\n", 1)
        received = len(rest)
        while received < 2 * 1024 * 1024:
            time.sleep(0.002)
            chunk = client.sock.recv(65536)
            assert chunk, "closed while the client was reading"
            received += len(chunk)
    assert received == 2 * 1024 * 1024
