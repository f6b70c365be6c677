"""A small gateway answering the asynchronous-call API as issue 17 specifies it.

It runs a real aiohttp server on 127.0.0.1, port 0, in a thread of its own
(the client is synchronous). State is plain data the test sets up: calls,
their stored results, dead letters with their requests, queue counts. A call
may have ``plan``: the states its next status reads go through, so a test
of waiting needs no clock. Every request's path and query are recorded.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from pyfaas.types import CallState, CallStatus

_FINAL = {"succeeded", "failed", "dead", "cancelled", "expired"}


@dataclass
class Stored:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    truncated: int | None = None


@dataclass
class FakeGateway:
    calls: dict[str, CallStatus] = field(default_factory=dict)
    results: dict[str, Stored] = field(default_factory=dict)
    plans: dict[str, list[CallState]] = field(default_factory=dict)
    dead: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # id -> request
    queue: dict[str, Any] = field(default_factory=dict)
    next_plan: list[CallState] = field(default_factory=list)  # for each submitted call
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def add(self, status: CallStatus, result: Stored | None = None) -> None:
        if result is not None:
            self.results[status.call_id] = result
        # A result set up before the call is submitted is its result too.
        has_result = status.call_id in self.results
        self.calls[status.call_id] = replace(status, has_result=has_result)

    def bury(self, status: CallStatus, request: dict[str, Any] | None = None) -> None:
        self.add(replace(status, state=CallState.DEAD))
        self.dead[status.call_id] = request

    # -- handlers -------------------------------------------------------------

    def app(self) -> web.Application:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            self.seen.append((request.method, request.path, dict(request.query)))
            response: web.StreamResponse = await handler(request)
            return response

        app = web.Application(middlewares=[record])
        r = app.router
        r.add_get("/system/calls", self.list_calls)
        r.add_get("/system/calls/{id}", self.get_call)
        r.add_get("/system/calls/{id}/result", self.get_result)
        r.add_delete("/system/calls/{id}", self.cancel)
        r.add_get("/system/dead-letters", self.list_dead)
        r.add_post("/system/dead-letters/replay", self.replay_where)
        r.add_delete("/system/dead-letters", self.purge)
        r.add_get("/system/dead-letters/{id}", self.dead_letter)
        r.add_post("/system/dead-letters/{id}/replay", self.replay)
        r.add_get("/system/queue", self.stats)
        r.add_post("/async-function/{name}", self.submit)
        return app

    def _known(self, request: web.Request) -> CallStatus:
        found = self.calls.get(request.match_info["id"])
        if found is None:
            raise web.HTTPNotFound(text=f"no such call: {request.match_info['id']}")
        return found

    async def list_calls(self, request: web.Request) -> web.Response:
        """Newest added first; the cursor is the place after the page in that order."""
        query = request.query
        if query.get("state", "") not in ("", *(s.value for s in CallState)):
            raise web.HTTPBadRequest(text=f"state {query['state']!r} is not a state")
        found = [
            c
            for c in reversed(self.calls.values())
            if query.get("function") in (None, c.function)
            and query.get("state") in (None, c.state.value)
        ]
        start = int(query.get("before", "0"))
        limit = int(query.get("limit", "50"))
        page = found[start : start + limit]
        response = web.json_response([c.to_wire() for c in page])
        if start + limit < len(found):
            response.headers["X-Next-Cursor"] = str(start + limit)
        return response

    async def get_call(self, request: web.Request) -> web.Response:
        status = self._known(request)
        plan = self.plans.get(status.call_id)
        if plan:
            status = replace(status, state=plan.pop(0))
            self.calls[status.call_id] = status
        return web.json_response(status.to_wire())

    async def get_result(self, request: web.Request) -> web.Response:
        status = self._known(request)
        stored = self.results.get(status.call_id)
        if stored is None or status.state.value not in _FINAL:
            text = f"call {status.call_id} has no result yet (state {status.state.value})"
            raise web.HTTPConflict(text=text)
        headers = [*stored.headers, ("X-Call-Id", status.call_id)]
        if stored.truncated is not None:
            headers.append(("X-Result-Truncated", str(stored.truncated)))
        response = web.Response(status=stored.status, body=stored.body)
        for name, value in headers:
            response.headers.add(name, value)
        return response

    async def cancel(self, request: web.Request) -> web.Response:
        status = self._known(request)
        if status.state not in (CallState.QUEUED, CallState.DELAYED):
            raise web.HTTPConflict(
                text=f"call {status.call_id} is {status.state.value}: only a waiting call "
                "can be cancelled"
            )
        status = replace(status, state=CallState.CANCELLED, reason="cancelled")
        self.calls[status.call_id] = status
        return web.json_response(status.to_wire(), status=202)

    def _matching(self, query: Any) -> list[CallStatus]:
        out = [self.calls[i] for i in self.dead]
        if query.get("function"):
            out = [c for c in out if query["function"] in (c.function, _ref(c))]
        if query.get("reason"):
            out = [c for c in out if c.reason == query["reason"]]
        return out

    async def list_dead(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "100"))
        found = self._matching(request.query)[:limit]
        return web.json_response([c.to_wire() for c in found])

    async def dead_letter(self, request: web.Request) -> web.Response:
        call_id = request.match_info["id"]
        if call_id not in self.dead:
            raise web.HTTPNotFound(text=f"no dead letter with call id {call_id}")
        return web.json_response(
            {"call": self.calls[call_id].to_wire(), "request": self.dead[call_id]}
        )

    async def replay(self, request: web.Request) -> web.Response:
        call_id = request.match_info["id"]
        if self.dead.pop(call_id, "absent") == "absent":
            raise web.HTTPNotFound(text=f"no dead letter with call id {call_id}")
        self.calls[call_id] = replace(self.calls[call_id], state=CallState.QUEUED)
        return web.Response(status=202)

    def _bulk(self, request: web.Request) -> list[CallStatus]:
        if request.query.get("all") == "true":
            return [self.calls[i] for i in self.dead]
        if not any(request.query.get(k) for k in ("function", "reason", "since")):
            raise web.HTTPBadRequest(text="give function, reason or since, or all=true")
        return self._matching(request.query)

    async def replay_where(self, request: web.Request) -> web.Response:
        chosen = self._bulk(request)
        for call in chosen:
            del self.dead[call.call_id]
            self.calls[call.call_id] = replace(call, state=CallState.QUEUED)
        return web.json_response({"replayed": len(chosen)})

    async def purge(self, request: web.Request) -> web.Response:
        chosen = self._bulk(request)
        for call in chosen:
            del self.dead[call.call_id]
        return web.json_response({"purged": len(chosen)})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.queue or {"queued": 0, "running": 0, "dead": 0})

    async def submit(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        call_id = request.headers.get("X-Call-Id") or f"call-{len(self.calls) + 1}"
        function, _, namespace = name.partition(".")
        self.add(CallStatus(call_id, function, namespace, CallState.QUEUED))
        if self.next_plan:
            self.plans[call_id] = list(self.next_plan)
        return web.Response(status=202, headers={"X-Call-Id": call_id})


def _ref(call: CallStatus) -> str:
    return f"{call.function}.{call.namespace}"


def dead_request(body: bytes) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/async-function/figlet.openfaas-fn",
        "query": "a=1",
        "headers": [["Content-Type", "text/plain"], ["X-Call-Id", "d1"]],
        "body": base64.b64encode(body).decode(),
        "size": len(body),
    }


def serve(fake: FakeGateway) -> Iterator[FakeGateway]:
    """Run ``fake`` until the generator is closed (a fixture's body)."""
    ready, stop = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def main() -> None:
        runner = web.AppRunner(fake.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        ready.set()
        await asyncio.to_thread(stop.wait)
        await runner.cleanup()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the fixture, not lost in the thread
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "the fake gateway did not start"
    assert not failure, failure
    try:
        yield fake
    finally:
        stop.set()
        thread.join(10)
    assert not failure, failure
