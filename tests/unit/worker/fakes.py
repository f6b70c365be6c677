"""A real aiohttp server standing in for the gateway and for callback receivers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


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
        if reply.delay:
            await asyncio.sleep(reply.delay)
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


def _next(script: dict[str, list[Reply]], key: str) -> Reply:
    replies = script.get(key)
    if not replies:
        return Reply()
    return replies.pop(0) if len(replies) > 1 else replies[0]


@asynccontextmanager
async def serve(fake: FakeGateway) -> AsyncIterator[FakeGateway]:
    runner = web.AppRunner(fake.app(), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()
