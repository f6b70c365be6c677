"""The connection cap: slow heads make room for real calls, and it is said once, not per event."""

from __future__ import annotations

import asyncio
import resource
import time
from contextlib import ExitStack

import pytest

from pyfaas.httpd.limits import FD_RESERVE, Limits, connection_cap, raise_fd_limit
from pyfaas.httpd.messages import Request, Response
from tests.unit.httpd.harness import LOOPS, ServerThread, closed_among, get, handle, wait_until

CAP = 20


@pytest.mark.parametrize("loop_kind", list(LOOPS))
def test_half_sent_heads_at_the_cap_do_not_keep_a_real_call_out(loop_kind: str) -> None:
    limits = Limits(max_connections=CAP)
    with ServerThread(limits, loop_kind=loop_kind) as running, ExitStack() as stack:
        slow = [stack.enter_context(running.client()) for _ in range(CAP * 3)]
        for client in slow:
            client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")  # and never the rest
        # A burst of three times the cap sometimes leaves the server a few
        # below it (more closed than were needed to make room): top up, so the
        # real calls below meet a server at its cap and must make room.
        for _ in range(CAP):
            if running.connections() >= CAP:
                break
            client = stack.enter_context(running.client())
            client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            slow.append(client)
            time.sleep(0.05)
        wait_until(lambda: running.connections() == CAP)
        for _ in range(5):
            with running.client() as real:
                real.send(get("/echo"))
                assert real.response().status == 200
        assert running.connections() <= CAP
        shed = closed_among(slow, at_least=CAP * 2)
        assert len(shed) >= CAP * 2
        # Those with half a head get a word on why.
        assert any(b"503 Service Unavailable" in c._buf for c in shed)
    lines = [line for line in running.logs if "connection limit" in line]
    assert len(lines) == 1, running.logs  # the first at once, the rest in the next line, 10 s on
    assert lines[0].startswith(f"connection limit {CAP} reached: closed 1 ")


def test_idle_keep_alive_connections_make_room_too() -> None:
    with ServerThread(Limits(max_connections=3)) as running, ExitStack() as stack:
        idle = [stack.enter_context(running.client()) for _ in range(3)]
        for client in idle:
            client.send(get("/echo"))
            assert client.response().status == 200
        with running.client() as real:
            real.send(get("/echo"))
            assert real.response().status == 200
        assert idle[0].closed(within=2)  # the one idle longest
        assert idle[0].pending() == b""  # closed without an unasked-for response


def test_when_every_connection_is_busy_a_new_one_is_refused_with_503() -> None:
    answer = asyncio.Event()  # set on the server's loop, which its waits are bound to

    async def busy_until_told(request: Request) -> Response:
        await answer.wait()
        return await handle(request)

    limits = Limits(max_connections=2)
    with ServerThread(limits, handler=busy_until_told) as running, ExitStack() as stack:
        busy = [stack.enter_context(running.client()) for _ in range(2)]
        for client in busy:
            client.send(get("/echo"))  # busy while the third connects
        wait_until(lambda: running.call(lambda: running.listener._state.active) == 2)
        with running.client() as refused:
            reply = refused.response()
            assert reply.status == 503
            assert reply.body == b"server at its connection limit\n"
        running.call(answer.set)
        for client in busy:
            assert client.response().status == 200
    assert any("refused 1" in line for line in running.logs)


def test_the_cap_stays_below_the_descriptor_limit() -> None:
    assert connection_cap(10_000, 1_048_576) == 10_000
    assert connection_cap(10_000, 1024) == (1024 - FD_RESERVE) // 2
    assert connection_cap(10_000, 10) == 1


def test_raising_the_descriptor_limit_reaches_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
        got = raise_fd_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == got
        assert got == hard or hard == resource.RLIM_INFINITY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_listener_lowers_its_cap_to_the_descriptor_limit_and_says_so() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
        with ServerThread(Limits(max_connections=10_000)) as running:
            assert running.listener.cap == (512 - FD_RESERVE) // 2
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert any("lowered to" in line for line in running.logs)
