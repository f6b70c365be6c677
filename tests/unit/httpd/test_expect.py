"""``Expect: 100-continue``: one 100, sent when the handler reads the body, then the answer."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.httpd.harness import ServerThread, get

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _expecting(path: str, length: int, version: str = "1.1") -> bytes:
    return (
        f"POST {path} HTTP/{version}\r\nHost: t\r\nContent-Length: {length}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()


def test_one_100_then_the_real_response(server: ServerThread) -> None:
    with server.client() as client:
        for _ in range(2):  # and again on the same connection
            client.send(_expecting("/echo", 5))
            assert client.pending() == CONTINUE  # the body is not sent before it
            client._buf = b""
            client.send(b"hello")
            reply = client.response()
            assert (reply.status, reply.body, reply.interim) == (200, b"hello", [])
            assert client.pending() == b""  # nothing after it: no second 100


def test_the_handler_does_not_see_the_expectation(server: ServerThread) -> None:
    with server.client() as client:
        client.send(_expecting("/headers", 2))
        client.pending()
        client.send(b"hi")
        reply = client.response()
    assert reply.interim == [100]
    names = [name.lower() for name, _ in json.loads(reply.body)]
    assert "expect" not in names
    assert "content-length" in names


def test_no_100_when_the_handler_answers_without_reading(server: ServerThread) -> None:
    with server.client() as client:
        client.send(_expecting("/noread", 1000))
        reply = client.response()
        assert (reply.status, reply.interim) == (200, [])
        # The body may never come: the connection cannot be reused.
        assert reply.headers["connection"] == "close"
        assert client.closed()


def test_no_100_when_the_body_comes_at_once(server: ServerThread) -> None:
    with server.client() as client:
        client.send(_expecting("/echo", 5) + b"hello")
        reply = client.response()
        assert (reply.body, reply.interim) == (b"hello", [])
        client.send(get("/echo"))
        assert client.response().status == 200


def test_no_100_for_http10_nor_for_an_empty_body(server: ServerThread) -> None:
    with server.client() as client:
        client.send(_expecting("/echo", 0))
        reply = client.response()
        assert (reply.status, reply.interim) == (200, [])
    with server.client() as client:
        client.send(_expecting("/echo", 3, version="1.0"))
        assert client.pending() == b""
        client.send(b"abc")
        reply = client.response()
        assert (reply.body, reply.interim) == (b"abc", [])


def test_a_queued_request_gets_its_100_after_the_answer_before_it(server: ServerThread) -> None:
    with server.client() as client:
        client.send(get("/stream?n=50&size=1000&s=0.05") + _expecting("/echo", 4))
        first = client.response()
        assert len(first.body) == 50_000
        assert client.pending() == CONTINUE
        client._buf = b""
        client.send(b"four")
        second = client.response()
        assert (second.body, second.interim) == (b"four", [])


def test_a_client_that_never_sends_the_promised_body_is_cut() -> None:
    from pyfaas.httpd.limits import Limits

    with ServerThread(Limits(read_timeout=0.1)) as running, running.client() as client:
        client.send(_expecting("/echo", 10))
        reply = client.response()
        assert (reply.interim, reply.status) == ([100], 408)
        assert client.closed()


@pytest.mark.integration  # runs curl
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_sends_a_big_body_with_its_own_expectation(
    server: ServerThread, tmp_path: Path
) -> None:
    body = os.urandom(3 * 1024 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(body)
    done = subprocess.run(
        ["curl", "-s", "-v", "--data-binary", f"@{big}", f"http://127.0.0.1:{server.port}/count"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    log = done.stderr.decode(errors="replace")
    assert re.search(r"^> Expect: 100-continue", log, re.M | re.I), log
    assert len(re.findall(r"^< HTTP/1.1 100", log, re.M)) == 1, log
    assert re.search(r"^< HTTP/1.1 200", log, re.M), log
    assert done.stdout.decode() == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
