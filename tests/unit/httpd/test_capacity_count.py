"""A connection counts once against the cap while it is being connected.

Between its accept and its protocol's ``connection_made`` a connection is
``pending``; from then on it is one of ``connections``. It used to count in
both until the accept's task ended, a loop turn later, so a burst of exactly
the cap saw the server full early and closed connections it had room for.
"""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from pyfaas.httpd.limits import Limits
from tests.unit.httpd.harness import LOOPS, ServerThread, closed_among, wait_until

CAP = 40


@pytest.mark.parametrize("loop_kind", list(LOOPS))
def test_a_burst_of_exactly_the_cap_is_held_whole(loop_kind: str) -> None:
    with (
        ServerThread(Limits(max_connections=CAP), loop_kind=loop_kind) as running,
        ExitStack() as stack,
    ):
        clients = [stack.enter_context(running.client()) for _ in range(CAP)]
        for client in clients:
            client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")  # and never the rest
        wait_until(lambda: running.connections() == CAP)
        assert closed_among(clients, at_least=1, within=0.3) == []
        state = running.listener._state  # type: ignore[attr-defined]
        assert running.call(lambda: len(state.pending)) == 0
