"""Fixtures of the HTTP server's tests: a real server in a thread, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyfaas.httpd.limits import Limits
from tests.unit.httpd.harness import LOOPS, ServerThread


@pytest.fixture(params=list(LOOPS))
def server(request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    """The server with default limits, on uvloop and on asyncio's loop."""
    with ServerThread(Limits(), loop_kind=request.param) as running:
        yield running
