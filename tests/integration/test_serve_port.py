"""``pyfaas serve --port 0``: serve binds the gateway's port and every gateway start inherits it.

A real serve on port 0 says the port it listens on and tells the
queue-worker that URL; a taken port fails serve at once, in one line,
before it creates anything; a gateway the supervisor restarts answers on
the same port, and a client that connects while it restarts is answered
by the new gateway instead of refused.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_for
from tests.proctree import alive, command, descendants
from tests.serve_process import BASE_ENV, PYFAAS, ServeProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    platform = ServeProcess(tmp_path)
    try:
        yield platform.start()
    finally:
        platform.stop()


def test_port_0_is_a_real_port_said_to_the_client_and_to_the_worker(serve: ServeProcess) -> None:
    assert serve.port > 0
    assert httpx.get(f"{serve.url}/healthz", timeout=10).text == "OK"
    # The worker was started with the real URL, not port 0 (it says so once it runs).
    wait_for(lambda: "[queue-worker] Starting queue-worker" in serve.output(), timeout=30)
    output = serve.output()
    assert f"Gateway: {serve.url} " in output
    assert f"Listening on {serve.url}\n" in output  # the gateway's own line
    assert f"pyfaas login -g {serve.url} " in output
    assert "127.0.0.1:0" not in output


def test_a_taken_port_fails_serve_at_once_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*PYFAAS, "serve", "--port", str(port), "--home", str(home)],
            env={**os.environ, **BASE_ENV},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in lines[0]
    assert not home.exists()  # nothing was created, nothing started


def test_a_gateway_restarted_by_the_supervisor_answers_on_the_same_port(
    serve: ServeProcess,
) -> None:
    assert serve.proc is not None
    gateways = [p for p in descendants(serve.proc.pid) if "pyfaas.gateway" in command(p[0])]
    assert len(gateways) == 1, gateways
    serve.tree()  # remembered, for teardown
    os.kill(gateways[0][0], signal.SIGKILL)
    wait_for(lambda: not alive(gateways[0]), timeout=10)
    # Serve still holds the socket: this connection waits in its backlog through
    # the restart's back-off and is answered by the next gateway, not refused.
    assert httpx.get(f"{serve.url}/healthz", timeout=60).text == "OK"
    output = serve.output()
    assert "gateway exited with code -9; restarting" in output
    assert output.count(f"Listening on {serve.url}") == 2
    again = [p for p in descendants(serve.proc.pid) if "pyfaas.gateway" in command(p[0])]
    assert len(again) == 1
    assert again != gateways
    serve.tree()
