"""pyfaas's dead-letter routes: list with filters, show one with its request, replay, purge.

Filters are query parameters: ``function=NAME[.NS]`` (the default namespace
if none), ``reason=R`` (exact, e.g. ``expired``), ``since=<Unix seconds or
RFC 3339>`` (finished at or after). Replaying or purging many needs a filter
or ``all=true``, so that a bare request never acts on every dead letter.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web

from pyfaas.errors import BadRequest, InvalidName
from pyfaas.gateway.async_submit import CALLBACK_URL
from pyfaas.gateway.callback_rules import redact
from pyfaas.gateway.calls import queue_of, status_wire
from pyfaas.gateway.responses import accepted, json_response
from pyfaas.gateway.state import STATE
from pyfaas.gateway.timestamps import instant
from pyfaas.naming import split_function_ref
from pyfaas.queue.base import DeadLetterFilter
from pyfaas.queue.envelope import QueuedCall

MAX_DEAD_LETTERS = 1000
_FILTERS = ("function", "reason", "since")


def _filter(request: web.Request) -> DeadLetterFilter | None:
    """The filter the query names; None if it names none."""
    query = request.query
    if not any(key in query for key in _FILTERS):
        return None
    function = query.get("function")
    if function is not None:
        default = request.app[STATE].settings.function_namespace
        try:
            name, namespace = split_function_ref(function, default)
        except InvalidName as exc:
            raise BadRequest(f"function {function[:80]!r} is not a function name: {exc}") from None
        function = f"{name}.{namespace}"
    reason = query.get("reason")
    if reason is not None and not reason:
        raise BadRequest("reason must not be empty")
    since = query.get("since")
    return DeadLetterFilter(
        function=function,
        reason=reason,
        since=None if since is None else instant("since", since),
    )


def _bulk_filter(request: web.Request) -> DeadLetterFilter:
    """The filter of a replay or purge of many: a filter, or ``all=true``, not both."""
    raw_all = request.query.get("all")
    if raw_all not in (None, "true", "false"):
        raise BadRequest(f"all {raw_all[:20]!r} must be true or false")
    where = _filter(request)
    if raw_all == "true":
        if where is not None:
            raise BadRequest("send all=true or a filter (function, reason, since), not both")
        return DeadLetterFilter()
    if where is None:
        raise BadRequest("name a filter (function, reason, since) or all=true")
    return where


async def list_dead_letters(request: web.Request) -> web.Response:
    raw = request.query.get("limit") or "100"
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"limit {raw[:20]!r} is not an integer") from None
    if not 1 <= limit <= MAX_DEAD_LETTERS:
        raise BadRequest(f"limit must be between 1 and {MAX_DEAD_LETTERS}")
    records = await queue_of(request).dead_letters(limit, _filter(request))
    return json_response([status_wire(record) for record in records])


def _request_wire(call: QueuedCall | None) -> dict[str, Any] | None:
    if call is None:
        return None
    wanted = CALLBACK_URL.lower()
    headers = [[k, redact(v) if k.lower() == wanted else v] for k, v in call.headers]
    return {
        "method": call.method,
        "path": call.path,
        "query": call.query,
        "headers": headers,
        "body": base64.b64encode(call.body).decode(),
        "size": len(call.body),
    }


async def show_dead_letter(request: web.Request) -> web.Response:
    record, call = await queue_of(request).dead_letter(request.match_info["call_id"])
    return json_response({"call": status_wire(record), "request": _request_wire(call)})


async def replay(request: web.Request) -> web.Response:
    await queue_of(request).replay(request.match_info["call_id"])
    return accepted()


async def replay_where(request: web.Request) -> web.Response:
    where = _bulk_filter(request)
    return json_response({"replayed": await queue_of(request).replay_where(where)})


async def purge(request: web.Request) -> web.Response:
    where = _bulk_filter(request)
    return json_response({"purged": await queue_of(request).purge(where)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/system/dead-letters", list_dead_letters)
    app.router.add_delete("/system/dead-letters", purge)
    app.router.add_post("/system/dead-letters/replay", replay_where)
    app.router.add_get("/system/dead-letters/{call_id}", show_dead_letter)
    app.router.add_post("/system/dead-letters/{call_id}/replay", replay)
