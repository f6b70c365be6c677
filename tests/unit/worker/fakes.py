"""Real servers standing in for the gateway and for callback receivers; queues that fail on cue.

``FakeGateway`` is an aiohttp app, served (like any fake with an ``app()``
and a ``url``) by ``serve``; ``function_app`` is the gateway's two routes a
worker uses, for a fake of a test's own. ``SilentGateway`` a bare TCP server that
takes every connection and answers only some requests, for a gateway that
accepts a call and never answers it. ``Failing`` is the memory queue with
chosen operations raising, for the worker's supervision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import Delivery, Outcome, QueuedCall


@dataclass
class Seen:
    """One request the fake received, with when it started and finished."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    header_list: list[tuple[str, str]]
    body: bytes
    started: float
    ended: float = 0.0


@dataclass
class Reply:
    status: int = 200
    delay: float = 0.0
    hold: asyncio.Event | None = None  # answer once the test sets it, after any delay
    body: bytes = b"done"
    headers: dict[str, str] = field(default_factory=dict)


class FakeGateway:
    """Serves ``/function/...``, ``/system/function/...`` and ``/cb/...`` on 127.0.0.1:0.

    ``script[ref]`` lists the replies a function gives in order (the last one
    repeats); ``callbacks[name]`` does the same for ``/cb/<name>``.
    """

    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        self.callback_script: dict[str, list[Reply]] = {}
        self.annotations: dict[str, dict[str, str]] = {}
        self.gone: set[str] = set()
        self.calls: list[Seen] = []
        self.callbacks: list[Seen] = []
        self.lookups: list[tuple[str, str | None]] = []
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/function/{ref}{rest:.*}", self._function)
        app.router.add_get("/system/function/{name}", self._status)
        app.router.add_post("/cb/{name}", self._callback)
        return app

    async def _function(self, request: web.Request) -> web.Response:
        seen = await _seen(request)
        self.calls.append(seen)
        reply = _next(self.script, request.match_info["ref"])
        await _wait(reply)
        seen.ended = time.monotonic()
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    async def _status(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.lookups.append((name, request.headers.get("Authorization")))
        ref = f"{name}.{request.query.get('namespace', '')}"
        if ref in self.gone:
            return web.Response(status=404)
        return web.json_response({"name": name, "annotations": self.annotations.get(ref, {})})

    async def _callback(self, request: web.Request) -> web.Response:
        seen = await _seen(request)
        self.callbacks.append(seen)
        reply = _next(self.callback_script, request.match_info["name"])
        await _wait(reply)
        seen.ended = time.monotonic()
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    def starts(self) -> list[tuple[float, float]]:
        return sorted((seen.started, seen.ended) for seen in self.calls)


async def _seen(request: web.Request) -> Seen:
    return Seen(
        method=request.method,
        path=request.path,
        query=request.raw_path.partition("?")[2],
        headers=dict(request.headers),
        header_list=list(request.headers.items()),
        body=await request.read(),
        started=time.monotonic(),
    )


async def _wait(reply: Reply) -> None:
    if reply.delay:
        await asyncio.sleep(reply.delay)
    if reply.hold is not None:
        await reply.hold.wait()


def _next(script: dict[str, list[Reply]], key: str) -> Reply:
    replies = script.get(key)
    if not replies:
        return Reply()
    return replies.pop(0) if len(replies) > 1 else replies[0]


def function_app(function: Handler) -> web.Application:
    """What a worker asks of a gateway: ``function`` answers ``/function/...``, and every
    function exists, without annotations."""
    app = web.Application()
    app.router.add_route("*", "/function/{ref}{rest:.*}", function)
    app.router.add_get("/system/function/{name}", no_annotations)
    return app


async def no_annotations(request: web.Request) -> web.Response:
    return web.json_response({"name": request.match_info["name"], "annotations": {}})


class Served(Protocol):
    url: str

    def app(self) -> web.Application: ...


S = TypeVar("S", bound=Served)


@asynccontextmanager
async def serve(fake: S) -> AsyncIterator[S]:
    """``fake``'s app on a port of its own choosing, its ``url`` set, while the block runs."""
    # A handler a test left waiting (a hung function) is cancelled at once on leaving.
    runner = web.AppRunner(fake.app(), access_log=None, shutdown_timeout=0.01)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


class SilentGateway:
    """Answers 200 to every request except those whose path holds ``silent_for``: never.

    It reads the request head and holds the connection open without a byte
    in reply, as a gateway (or a function) that has hung would.
    """

    def __init__(self, silent_for: str) -> None:
        self.silent_for = silent_for
        self.seen: list[str] = []
        self.url = ""
        self.closed = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.seen.append(path)
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                if self.silent_for in path:
                    await self.closed.wait()  # never answers, until the test ends
                    break
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@asynccontextmanager
async def serve_silent(fake: SilentGateway) -> AsyncIterator[SilentGateway]:
    server = await asyncio.start_server(fake._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        fake.closed.set()
        server.close()
        await server.wait_closed()


class Failing(MemoryQueue):
    """The memory queue, with ``failures[op]`` raising from its next calls of ``op``.

    ``failures["claim"] = [ValueError("bad payload")]`` makes the next claim
    raise that error, and the one after it work; an entry of ``None`` lets
    that call through. ``forever[op]`` raises on every call. ``calls[op]``
    counts the calls of each operation.
    """

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[str, list[Exception | None]] = {}
        self.forever: dict[str, Exception] = {}
        self.calls: dict[str, int] = {}

    def _fail(self, op: str) -> None:
        self.calls[op] = self.calls.get(op, 0) + 1
        if op in self.forever:
            raise self.forever[op]
        queued = self.failures.get(op)
        if queued:
            error = queued.pop(0)
            if error is not None:
                raise error

    async def put(self, call: QueuedCall) -> bool:
        self._fail("put")
        return await super().put(call)

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]:
        self._fail("claim")
        return await super().claim(limit, lease, wait)

    async def extend(self, delivery: Delivery, lease: float) -> None:
        self._fail("extend")
        await super().extend(delivery, lease)

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None:
        self._fail("ack")
        await super().ack(delivery, outcome)
