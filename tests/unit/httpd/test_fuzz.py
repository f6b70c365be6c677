"""The parser under random and mutated input: no crash, no hang, and service goes on.

For each input the server answers with a well-formed status line or closes,
and with every timeout at 50 ms it closes within a bound whatever the input;
a normal request on a new connection is served afterwards.
"""

from __future__ import annotations

import os
import re
import socket
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyfaas.httpd.limits import Limits
from pyfaas.httpd.messages import Request, Response
from tests.unit.httpd.harness import Client, ServerThread, get

LIMITS = Limits(
    read_timeout=0.05,
    write_timeout=0.05,
    idle_timeout=0.05,
    max_header_bytes=2048,
    max_request_line_bytes=512,
)
BOUND = 5.0  # seconds: far above every timeout, so only a hang reaches it
FUZZ = settings(
    max_examples=int(os.environ.get("PYFAAS_FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
VALID = [
    b"GET /a?b=c HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    b"GET / HTTP/1.0\r\n\r\nGET /again HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"HEAD /h HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n",
]


async def echo(request: Request) -> Response:
    return Response(200, [], await request.body.read())


def _exchange(running: ServerThread, data: bytes, half_close: bool) -> None:
    started = time.monotonic()
    with Client(socket.create_connection(("127.0.0.1", running.port), timeout=BOUND)) as client:
        try:
            client.send(data)
            if half_close:
                client.sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: fine, as long as it did not hang
        assert client.closed(within=BOUND), f"still open after {BOUND}s: {data!r}"
        answer = client._buf
    assert time.monotonic() - started < BOUND
    if answer:
        assert answer.startswith(b"HTTP/1.1 "), answer[:100]
        assert re.match(rb"HTTP/1\.1 [1-5]\d\d ", answer), answer[:100]
    with running.client() as other:  # the server still serves
        other.send(get("/after"))
        assert other.response().status == 200


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "flip", "repeat", "cut"]))
        if kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 40))] * draw(st.integers(1, 80))
        elif kind == "cut":
            del data[at:]
    return bytes(data)


def test_random_bytes() -> None:
    with ServerThread(LIMITS, handler=echo) as running:

        @FUZZ
        @given(data=st.binary(min_size=1, max_size=3000), half_close=st.booleans())
        def check(data: bytes, half_close: bool) -> None:
            _exchange(running, data, half_close)

        check()


def test_mutated_valid_requests() -> None:
    with ServerThread(LIMITS, handler=echo) as running:

        @FUZZ
        @given(data=mutated(), half_close=st.booleans())
        def check(data: bytes, half_close: bool) -> None:
            _exchange(running, data, half_close)

        check()
