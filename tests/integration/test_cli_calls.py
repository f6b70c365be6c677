"""Steering asynchronous calls with the CLI, against a real gateway on each queue backend.

The gateway runs its own event loop in a thread, on a free port, as in
``test_cli``, over the memory queue, a SQLite file and a real nats-server;
the test itself plays the queue-worker through the queue's own interface
(claim, then ack or bury with the function's answer), so each step of a
call happens when the test says.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from click.testing import CliRunner, Result

from pyfaas import credentials
from pyfaas.cli.main import cli
from pyfaas.credentials import Credentials
from pyfaas.gateway.listener import GatewayServer
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.paths import StatePaths
from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import open_queue
from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import Delivery, Outcome, StoredResult
from tests.helpers import NatsServer, nats_server_binary

pytestmark = pytest.mark.integration
BACKENDS = [
    "memory",
    "sqlite",
    pytest.param(
        "nats",
        marks=[
            pytest.mark.nats,
            pytest.mark.skipif(nats_server_binary() is None, reason="nats-server not installed"),
        ],
    ),
]
Run = Callable[..., Result]
T = TypeVar("T")


@dataclass
class Platform:
    url: str
    home: Path
    queue: Queue
    loop: asyncio.AbstractEventLoop

    def soon(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def now(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.soon(coro).result(30)

    async def _claim(self) -> Delivery:
        [delivery] = await self.queue.claim(1, lease=60, wait=20)
        await self.queue.mark_running(delivery)
        return delivery

    async def answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> str:
        """Run the next call as the worker would: its answer is stored with it."""
        delivery = await self._claim()
        result = StoredResult(status, headers, body, size=len(body))
        outcome = Outcome(status_code=status, result=result)
        await self.queue.ack(delivery, outcome)
        return delivery.call.call_id

    async def bury(self, reason: str) -> str:
        delivery = await self._claim()
        await self.queue.bury(delivery, Outcome(status_code=500, error="boom", reason=reason))
        return delivery.call.call_id


async def _function(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


def _open(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Queue:
    if backend == "memory":
        return open_queue("memory://")
    if backend == "sqlite":
        return open_queue(f"sqlite://{tmp_path / 'queue.db'}")
    from pyfaas.queue.backends.nats import NatsQueue

    # A namespace of its own: the session's one nats-server serves every test.
    server: NatsServer = request.getfixturevalue("nats_server")
    return NatsQueue(server.url, namespace=f"cli{uuid.uuid4().hex[:10]}")


def _serve(ready: threading.Event, out: dict[str, Any], stop: threading.Event) -> None:
    async def main() -> None:
        replica = web.AppRunner(web.Application())
        replica.app.router.add_route("*", "/{tail:.*}", _function)
        await replica.setup()
        await web.TCPSite(replica, "127.0.0.1", 0).start()
        port = replica.addresses[0][1]
        provider = MemoryProvider(lambda n, ns: Endpoint(port=port, replica=f"{n}-0"))
        queue: Queue = out["queue"]
        await queue.start()
        creds: Credentials = out["creds"]
        gateway = GatewayServer(GatewaySettings(autoscale=False), provider, queue, creds, grace=1)
        out["port"] = await gateway.start("127.0.0.1", 0)
        out["loop"] = asyncio.get_running_loop()
        ready.set()
        await asyncio.to_thread(stop.wait)
        await gateway.close()
        await replica.cleanup()
        await queue.close()

    try:
        asyncio.run(main())
    finally:
        ready.set()


@pytest.fixture(params=BACKENDS)
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    paths = StatePaths(tmp_path / "home").ensure()
    creds, _ = credentials.ensure(paths)
    ready, stop = threading.Event(), threading.Event()
    out: dict[str, Any] = {"creds": creds, "queue": _open(request.param, request, tmp_path)}
    thread = threading.Thread(target=_serve, args=(ready, out, stop), daemon=True)
    thread.start()
    assert ready.wait(10), "gateway did not start"
    assert "port" in out, "gateway failed to start"
    try:
        yield Platform(f"http://127.0.0.1:{out['port']}", paths.home, out["queue"], out["loop"])
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture
def run(platform: Platform, tmp_path: Path) -> Run:
    env = {
        "PYFAAS_HOME": str(platform.home),
        "OPENFAAS_CONFIG": str(tmp_path / "openfaas"),
        "OPENFAAS_URL": platform.url,
        "CI": "",
    }

    def invoke(*args: str, stdin: str | bytes | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=stdin, env=env, catch_exceptions=False)

    ok(invoke("deploy", "--image", "functions/alpine:latest", "--name", "figlet"))
    return invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0].removeprefix("Error: ")


def submit(run: Run, *args: str, stdin: str = "hello") -> str:
    done = ok(run("invoke", "figlet", "--async", *args, stdin=stdin))
    # The issue's: 2>&1 | grep -o 'X-Call-Id: .*' | cut -d' ' -f2
    found: list[str] = re.findall(r"X-Call-Id: (\S+)", done.stderr + done.stdout)
    [call_id] = found
    assert done.stdout == f"202 Accepted\nX-Call-Id: {call_id}\n"
    return call_id


def test_a_call_from_submission_to_its_result(run: Run, platform: Platform) -> None:
    call_id = submit(run)
    assert "State:       queued" in ok(run("calls", "get", call_id)).stdout
    assert one_line_error(run("calls", "result", call_id)) == (
        f"call {call_id} has no result yet (state queued)"
    )
    answer = (201, b"\x00 _ art\n", [("Content-Type", "text/x-art"), ("X-Font", "slant")])
    assert platform.now(platform.answer(*answer)) == call_id
    shown = ok(run("calls", "get", call_id)).stdout.splitlines()
    assert "State:       succeeded" in shown
    assert "Status code: 201" in shown
    assert f"Result:      stored: pyfaas calls result {call_id}" in shown
    assert shown[shown.index("History:") + 2].split()[-1] == "201"
    result = ok(run("calls", "result", call_id))
    assert result.stdout_bytes == b"\x00 _ art\n"
    head = result.stderr.splitlines()
    assert head[0] == "HTTP 201"
    assert "Content-Type: text/x-art" in head
    assert "X-Font: slant" in head
    assert f"X-Call-Id: {call_id}" in head
    assert one_line_error(run("calls", "result", "no-such-call")) == "call no-such-call not found"


def test_invoke_async_wait_prints_the_result(run: Run, platform: Platform) -> None:
    worker = platform.soon(platform.answer(200, b"  _  _ \n | || |\n", []))
    done = ok(run("invoke", "figlet", "--async", "--wait", "--timeout", "60", stdin="hi"))
    call_id = worker.result(30)
    assert done.stdout_bytes == b"  _  _ \n | || |\n"
    assert f"Call ID: {call_id}" in done.stderr


def test_invoke_async_wait_on_a_dead_call_says_so(run: Run, platform: Platform) -> None:
    worker = platform.soon(platform.bury("retries exhausted"))
    done = run("invoke", "figlet", "--async", "--wait", stdin="hi")
    call_id = worker.result(30)
    assert done.exit_code == 1
    assert done.stdout == ""
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"Error: call {call_id} ended dead")
    assert "retries exhausted" in last


def test_a_delayed_call_is_cancelled_and_never_handed_out(run: Run, platform: Platform) -> None:
    call_id = submit(run, "--header", "X-Delay-Seconds=600")
    shown = ok(run("calls", "get", call_id)).stdout
    assert "State:       delayed" in shown
    assert "Not before:" in shown
    row = ok(run("queue", "stats")).stdout.splitlines()
    assert row[0].split()[:4] == ["FUNCTION", "QUEUED", "DELAYED", "RUNNING"]
    assert row[1].split()[:4] == ["figlet.openfaas-fn", "0", "1", "0"]
    assert ok(run("calls", "cancel", call_id)).stdout == f"Cancelled: {call_id} (cancelled)\n"
    assert "State:       cancelled" in ok(run("calls", "get", call_id)).stdout
    again = one_line_error(run("calls", "cancel", call_id))
    assert again.startswith(f"call {call_id} is cancelled")
    assert platform.now(platform.queue.claim(1, lease=60, wait=0)) == []
    assert json.loads(ok(run("queue", "stats", "--json")).stdout)["delayed"] == 0


def test_an_idempotency_key_answers_the_first_calls_id(run: Run, platform: Platform) -> None:
    first = submit(run, "--header", "Idempotency-Key=order-17")
    assert first.startswith("idem-")
    assert submit(run, "--header", "Idempotency-Key=order-17") == first
    other = run("invoke", "figlet", "--async", "-H", "Idempotency-Key=order-17", stdin="other")
    refused = one_line_error(other)
    assert refused.startswith("Idempotency-Key 'order-17'")
    assert first in refused
    bad = one_line_error(run("invoke", "figlet", "--async", "-H", "X-Delay-Seconds=abc"))
    assert "X-Delay-Seconds" in bad


def test_dead_letters_listed_shown_replayed_and_purged(run: Run, platform: Platform) -> None:
    ids = [submit(run, stdin=f"body-{i}") for i in range(3)]
    buried = [platform.now(platform.bury("retries exhausted")) for _ in ids]
    assert sorted(buried) == sorted(ids)
    listed = ok(run("dead-letters", "list", "--function", "figlet", "--since", "1h"))
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:2] == ["CALL", "ID"]
    assert {r.split()[0] for r in rows[1:]} == set(ids)
    assert all(r.endswith("retries exhausted") for r in rows[1:])
    wire = json.loads(ok(run("dead-letters", "list", "--reason", "retries exhausted", "-j")).stdout)
    assert len(wire) == 3
    shown = ok(run("dead-letters", "show", ids[0])).stdout
    assert "Reason:      retries exhausted" in shown
    assert "Request: POST" in shown
    assert shown.rstrip().endswith("body-0")
    assert ok(run("dead-letters", "replay", ids[0])).stdout == f"Replayed: {ids[0]}\n"
    replayed = ok(run("dead-letters", "replay", "--function", "figlet"))
    assert replayed.stdout == "Replayed 2 dead letters.\n"
    for _ in ids:
        platform.now(platform.bury("expired-by-test"))
    assert ok(run("dead-letters", "purge", "--reason", "nothing-like-it")).stdout == (
        "Purged 0 dead letters.\n"
    )
    assert ok(run("dead-letters", "purge", "--all", "--yes")).stdout == "Purged 3 dead letters.\n"
    assert ok(run("dead-letters", "list")).stdout == "No dead letters.\n"
    assert one_line_error(run("dead-letters", "purge")).startswith("purge what?")
