"""Malformed and oversize heads and bodies: a status line and one line of text, then close."""

from __future__ import annotations

import pytest

from pyfaas.httpd.limits import Limits
from tests.unit.httpd.harness import ServerThread, get, post

SMALL = Limits(max_header_bytes=4096, max_request_line_bytes=1024)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 400),
        (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"v" * 5000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X-Many: v\r\n" * 600 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: t\r\nExpect: the-impossible\r\n\r\n", 417),
    ],
    ids=[
        "garbage",
        "bad-version",
        "bad-header-name",
        "nul-in-value",
        "two-lengths",
        "bad-length",
        "length-and-chunked",
        "chunked-not-last",
        "long-target",
        "big-header",
        "many-headers",
        "unknown-expect",
    ],
)
def test_a_bad_head_gets_its_status_and_one_line(raw: bytes, status: int) -> None:
    with ServerThread(SMALL) as running, running.client() as client:
        client.send(raw)
        reply = client.response()
        assert reply.status == status
        assert reply.headers["connection"] == "close"
        assert reply.headers["content-type"] == "text/plain; charset=utf-8"
        assert reply.body.endswith(b"\n")
        assert reply.body.count(b"\n") == 1
        assert client.closed()
        with running.client() as other:  # and the server goes on serving
            other.send(get("/echo"))
            assert other.response().status == 200


def test_an_oversize_head_sent_in_pieces_is_cut_without_reading_it_all() -> None:
    with ServerThread(SMALL) as running, running.client() as client:
        client.send(b"GET / HTTP/1.1\r\nX-Big: ")
        sent = 0
        try:
            for _ in range(2048):  # 8 MiB, if the server read it all
                client.send(b"v" * 4096)
                sent += 4096
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < 8 * 1024 * 1024
        assert b"431 Request Header Fields Too Large" in client.pending() or sent < 1024 * 1024


def test_a_head_just_under_the_limit_passes() -> None:
    with ServerThread(SMALL) as running, running.client() as client:
        client.send(b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 3900 + b"\r\n\r\n")
        assert client.response().status == 200


def test_a_large_body_after_a_small_head_in_one_send_is_no_oversize_head() -> None:
    # The limits count the head only, however the bytes arrive.
    body = b"x" * 200_000
    with ServerThread(SMALL) as running, running.client() as client:
        client.send(post("/echo", body) + post("/echo", body)[:100])
        assert client.response().body == body
        client.send(post("/echo", body)[100:])
        assert client.response().body == body


def test_an_invalid_chunk_size_gets_400() -> None:
    with ServerThread() as running, running.client() as client:
        client.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n"
        )
        reply = client.response()
        assert reply.status == 400
        assert reply.body.count(b"\n") == 1
        assert client.closed()


def test_a_bad_head_after_a_good_one_is_answered_in_its_turn() -> None:
    with ServerThread() as running, running.client() as client:
        client.send(get("/echo?s=0.05") + b"NONSENSE\r\n\r\n")
        first = client.response()
        second = client.response()
        assert (first.status, first.headers["x-target"]) == (200, "/echo?s=0.05")
        assert second.status == 400
        assert client.closed()


def test_a_handler_that_answers_1xx_gets_a_500_instead() -> None:
    with ServerThread() as running, running.client() as client:
        client.send(get("/interim"))
        reply = client.response()
        assert reply.interim == []
        assert reply.status == 500
