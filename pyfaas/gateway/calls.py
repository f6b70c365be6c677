"""pyfaas's routes for asynchronous calls and the queue's counts (basic auth like the rest).

``GET /system/calls`` lists the calls' records, newest first, filtered by
``function``, ``namespace`` and ``state``, ``limit`` at a time (50 by
default, 500 at most); when there are more, the answer's ``X-Next-Cursor``
header (and a ``Link: <...>; rel="next"``) gives the ``before`` value of the
next page.
``GET /system/calls/{id}`` answers "where is my call?", ``.../result`` the
function's answer as it gave it, ``DELETE /system/calls/{id}`` cancels a call
that has not started, and ``GET /system/queue`` counts calls in all and per
function. A call's ``callbackUrl`` is shown redacted (``callback_rules``);
the dead-letter routes (``dead_letters``) answer records the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import CIMultiDict

from pyfaas._http import HOP_BY_HOP
from pyfaas.errors import BadRequest, Conflict, InvalidName, NotFound, QueueUnavailable
from pyfaas.gateway.callback_rules import redact
from pyfaas.gateway.callid import CALL_ID
from pyfaas.gateway.responses import json_response
from pyfaas.gateway.state import STATE
from pyfaas.naming import validate_name, validate_namespace
from pyfaas.queue.base import MAX_PAGE, CallFilter, FunctionStats, Queue
from pyfaas.queue.envelope import CallRecord, CallState, callback_id, with_callback

TRUNCATED = "X-Result-Truncated"
# The framing of the stored answer is this response's own.
_DROP_FROM_RESULT = HOP_BY_HOP | {"content-length", CALL_ID.lower(), TRUNCATED.lower()}
CANCELLABLE = (CallState.QUEUED, CallState.DELAYED, CallState.RETRYING)
NEXT_CURSOR = "X-Next-Cursor"
DEFAULT_PAGE = 50
_STATES = ", ".join(state.value for state in CallState)


def queue_of(request: web.Request) -> Queue:
    queue = request.app[STATE].queue
    if queue is None:
        raise QueueUnavailable("no queue is configured for asynchronous calls")
    return queue


def status_wire(record: CallRecord) -> dict[str, Any]:
    """A record as the API shows it: the CallStatus JSON, its callback URL redacted."""
    out = record.to_wire()
    if out.get("callbackUrl"):
        out["callbackUrl"] = redact(out["callbackUrl"])
    return out


async def _record(queue: Queue, call_id: str) -> CallRecord:
    record = await queue.record(call_id)
    if record is None:
        raise NotFound(f"call {call_id} not found")
    # The callback travels as a queued delivery of its own; its outcome is
    # read from that delivery's record.
    return await _folded(queue, record)


async def _folded(queue: Queue, record: CallRecord) -> CallRecord:
    """``record`` with its callback's outcome, as ``GET /system/calls/{id}`` shows it."""
    if not record.callback_url:
        return record
    return with_callback(record, await queue.record(callback_id(record.call_id)))


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PAGE
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"limit {raw[:20]!r} is not an integer") from None
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
    return limit


def _state(raw: str | None) -> CallState | None:
    if raw is None or raw == "":
        return None
    try:
        return CallState(raw)
    except ValueError:
        raise BadRequest(f"state {raw[:20]!r} is not one of {_STATES}") from None


def _list_filter(request: web.Request) -> CallFilter:
    """The filter of ``GET /system/calls``: ``function=NAME[.NS]``, ``namespace``, ``state``.

    A function without a namespace matches it in every namespace.
    """
    query = request.query
    function, namespace = query.get("function") or None, query.get("namespace") or None
    try:
        if function is not None:
            name, dot, named = function.rpartition(".")
            function = validate_name(name if dot else function)
            if dot and namespace is not None and named != namespace:
                raise BadRequest(f"function names namespace {named!r}, namespace is {namespace!r}")
            namespace = named if dot else namespace
        if namespace is not None:
            validate_namespace(namespace)
    except InvalidName as exc:
        raise BadRequest(f"invalid filter: {exc}") from None
    before = query.get("before") or None
    return CallFilter(function, namespace, _state(query.get("state")), before)


async def list_calls(request: web.Request) -> web.Response:
    """The records ``GET /system/calls/{id}`` answers, newest first, a page at a time."""
    queue = queue_of(request)
    limit = _limit(request.query.get("limit"))
    page = await queue.calls(_list_filter(request), limit)
    shown = await asyncio.gather(*(_folded(queue, record) for record in page.records))
    response = json_response([status_wire(record) for record in shown])
    if page.next is not None:
        response.headers[NEXT_CURSOR] = page.next
        query = {k: v for k, v in request.query.items() if k != "before"}
        query["before"] = page.next
        response.headers["Link"] = f'<{request.path}?{urlencode(query)}>; rel="next"'
    return response


async def call_record(request: web.Request) -> web.Response:
    record = await _record(queue_of(request), request.match_info["call_id"])
    return json_response(status_wire(record))


async def call_result(request: web.Request) -> web.Response:
    """The function's answer: its status, headers (minus hop-by-hop) and body."""
    queue = queue_of(request)
    call_id = request.match_info["call_id"]
    result = await queue.result(call_id)
    if result is None:
        record = await queue.record(call_id)
        if record is None:
            raise NotFound(f"call {call_id} not found")
        raise Conflict(f"call {call_id} has no result yet (state {record.state.value})")
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in result.headers:
        if name.lower() not in _DROP_FROM_RESULT:
            headers.add(name, value)
    headers[CALL_ID] = call_id
    if result.truncated:
        headers[TRUNCATED] = str(result.size)
    return web.Response(status=result.status, body=result.body, headers=headers)


async def cancel(request: web.Request) -> web.Response:
    """Cancel a call that has not started; a running call is not stopped (docs/)."""
    queue = queue_of(request)
    call_id = request.match_info["call_id"]
    try:
        record = await queue.cancel(call_id)
    except Conflict:
        found = await queue.record(call_id)
        state = "finished" if found is None else found.state.value
        raise Conflict(
            f"call {call_id} is {state}: only a queued, delayed or retrying call can be"
            " cancelled (a running call is not stopped)"
        ) from None
    return json_response(status_wire(record), status=202)


def _function_wire(stats: FunctionStats) -> dict[str, Any]:
    return {
        "function": stats.function,
        "queued": stats.queued,
        "delayed": stats.delayed,
        "running": stats.running,
        "retrying": stats.retrying,
        "dead": stats.dead,
        "oldestAge": stats.oldest_age,
        "processed": stats.processed,
        "callbackFailures": stats.callback_failures,
    }


async def queue_stats(request: web.Request) -> web.Response:
    stats = await queue_of(request).stats()
    return json_response(
        {
            "queued": stats.queued,
            "running": stats.running,
            "dead": stats.dead,
            "delayed": stats.delayed,
            "retrying": stats.retrying,
            "functions": [_function_wire(f) for f in stats.functions],
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/system/calls", list_calls)
    app.router.add_get("/system/calls/{call_id}", call_record)
    app.router.add_delete("/system/calls/{call_id}", cancel)
    app.router.add_get("/system/calls/{call_id}/result", call_result)
    app.router.add_get("/system/queue", queue_stats)
