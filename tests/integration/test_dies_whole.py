"""The platform dies whole: a component killed outright takes everything it started along.

A real ``pyfaas serve`` runs a classic and an http-mode function. Its process
tree is read from ``/proc`` before the kill; after a SIGKILL of serve, or of
its gateway alone, every process below the killed one must be gone within
a generous bound, and the platform must start again at once on the same port
and state directory, with what it had accepted.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, wait_for
from tests.proctree import Proc, alive, command, descendants, identity, survivors
from tests.serve_process import ServeProcess as Serve

pytestmark = pytest.mark.integration

GONE_WITHIN = 10.0


@pytest.fixture
def serve(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Serve]:
    """A platform, sandboxed as this machine allows unless the test says ``sandbox``."""
    # A call running when its worker is killed comes back within seconds.
    env = {"ack_wait": "5s"}
    if hasattr(request, "param"):
        env["PYFAAS_SANDBOX"] = request.param
    platform = Serve(tmp_path, env=env)
    try:
        yield platform.start()
    finally:
        platform.stop()


def deploy_functions(serve: Serve) -> None:
    """A classic ``cat`` and an http-mode function whose server is a process of its own."""
    # Known before anything starts: the watchdog is told upstream_url, then forks the server.
    upstream = free_port()
    functions = [
        {"service": "echo", "image": "functions/alpine:latest", "envProcess": "cat"},
        # Calls that take a while, so some are queued or running when serve is killed.
        {"service": "slow", "image": "functions/alpine:latest", "envProcess": "sleep 0.5"},
        {
            "service": "web",
            "image": "functions/alpine:latest",
            "envProcess": f"{sys.executable} -m http.server {upstream} --bind 127.0.0.1",
            "envVars": {"mode": "http", "upstream_url": f"http://127.0.0.1:{upstream}"},
        },
    ]
    for spec in functions:
        answer = serve.api("POST", "/system/functions", json=spec)
        assert answer.status_code == 202, answer.text
    for spec in functions:
        ready = partial(serve.function_ready, str(spec["service"]))
        wait_for(ready, timeout=60, interval=0.1)


def kinds(procs: list[Proc]) -> dict[str, int]:
    """How many of each platform process ``procs`` holds, by what their command lines run.

    A sandboxed replica's bubblewrap processes name what they run too.
    """
    marks = {
        "gateway": "pyfaas.gateway",
        "worker": "pyfaas.worker",
        "writer": "_sqlite_writer",
        "watchdog": "pyfaas.watchdog",
        "function server": "http.server",
    }
    lines = [command(pid) for pid, _ in procs]
    return {kind: sum(mark in line for line in lines) for kind, mark in marks.items()}


def submit(serve: Serve, count: int) -> list[str]:
    accepted = []
    for _ in range(count):
        answer = httpx.post(f"{serve.url}/async-function/slow", content=b"x", timeout=10)
        assert answer.status_code == 202, answer.text
        accepted.append(answer.headers["X-Call-Id"])
    return accepted


def settled(serve: Serve, call_id: str) -> bool:
    answer = serve.api("GET", f"/system/calls/{call_id}")
    return answer.status_code == 200 and answer.json().get("state") == "succeeded"


@pytest.mark.parametrize("serve", ["auto", "off"], indirect=True, ids=["sandbox", "no-sandbox"])
def test_a_killed_serve_takes_every_process_along_and_starts_again(serve: Serve) -> None:
    deploy_functions(serve)
    # The gateway's and the worker's writer: the worker's starts with its queue.
    wait_for(lambda: kinds(serve.tree())["writer"] == 2, timeout=30, interval=0.1)
    before = serve.tree()
    found = kinds(before)
    assert all(found.values()), found
    accepted = submit(serve, 6)
    assert not settled(serve, accepted[-1]), "some calls are still to run at the kill"
    assert serve.proc is not None
    serve.proc.kill()
    serve.proc.wait(timeout=10)
    assert survivors(before, within=GONE_WITHIN) == []

    # At once on the same port and state: the functions come back, the calls are run.
    serve.start()
    for name in ("echo", "slow", "web"):
        wait_for(lambda name=name: serve.function_ready(name), timeout=60, interval=0.1)
    for call_id in accepted:
        wait_for(lambda call_id=call_id: settled(serve, call_id), timeout=60, interval=0.2)
    assert httpx.post(f"{serve.url}/function/web", timeout=10).status_code in (200, 501)


def find(procs: list[Proc], mark: str) -> Proc:
    """The first of ``procs`` whose command line runs ``mark`` (not bubblewrap running it)."""
    return next(p for p in procs if mark in command(p[0]) and "bwrap" not in command(p[0]))


def test_a_killed_worker_or_watchdog_takes_its_own_children_along(serve: Serve) -> None:
    deploy_functions(serve)
    wait_for(lambda: kinds(serve.tree())["writer"] == 2, timeout=30, interval=0.1)
    tree = serve.tree()
    gateway = find(tree, "pyfaas.gateway")
    worker = find(tree, "pyfaas.worker")
    (writer,) = descendants(worker[0])
    os.kill(worker[0], signal.SIGKILL)
    assert survivors([worker, writer], within=GONE_WITHIN) == []

    # The watchdog whose function is a server of its own.
    server = find(tree, "http.server")
    watchdog = next(p for p in tree if server in descendants(p[0]) and p in descendants(gateway[0]))
    while "bwrap" in command(watchdog[0]):  # inside the sandbox: the watchdog itself
        watchdog = next(p for p in descendants(watchdog[0]) if server in [p, *descendants(p[0])])
    assert "pyfaas.watchdog" in command(watchdog[0])
    os.kill(watchdog[0], signal.SIGKILL)
    assert survivors([watchdog, server], within=GONE_WITHIN) == []
    assert alive(gateway), "the gateway is not its worker's or its replica's to take along"

    # Both come back: serve restarts the worker, the gateway replaces the replica.
    wait_for(lambda: "queue-worker exited with code -9" in serve.output(), timeout=10)
    wait_for(lambda: kinds(serve.tree())["worker"] == 1, timeout=30, interval=0.1)
    wait_for(lambda: serve.function_ready("web"), timeout=60, interval=0.1)
    call = httpx.post(f"{serve.url}/function/web", timeout=10)
    assert call.status_code in (200, 501), call.text


def test_a_killed_gateway_takes_its_writer_and_replicas_along(serve: Serve) -> None:
    deploy_functions(serve)
    wait_for(lambda: kinds(serve.tree())["worker"] == 1, timeout=30, interval=0.1)
    tree = serve.tree()
    gateway = find(tree, "pyfaas.gateway")
    worker = find(tree, "pyfaas.worker")
    below = descendants(gateway[0])
    found = kinds(below)
    assert found["writer"] == 1, found
    assert found["watchdog"] >= 3, found
    assert found["function server"] >= 1, found
    os.kill(gateway[0], signal.SIGKILL)
    assert survivors([gateway, *below], within=GONE_WITHIN) == []
    assert alive(worker), "the queue-worker is not the gateway's to take along"

    # serve starts the gateway again, and it runs the functions again.
    wait_for(lambda: "gateway exited with code -9" in serve.output(), timeout=10)
    wait_for(lambda: serve.healthy() and serve.function_ready("web"), timeout=60, interval=0.1)
    assert identity(gateway[0]) != gateway
    serve.tree()
