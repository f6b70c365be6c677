"""pyfaas's routes for one asynchronous call and the queue's counts (basic auth like the rest).

``GET /system/calls/{id}`` answers "where is my call?", ``.../result`` the
function's answer as it gave it, ``DELETE /system/calls/{id}`` cancels a call
that has not started, and ``GET /system/queue`` counts calls in all and per
function. A call's ``callbackUrl`` is shown redacted (``callback_rules``);
the dead-letter routes (``dead_letters``) answer records the same way.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from pyfaas._http import HOP_BY_HOP
from pyfaas.errors import Conflict, NotFound, QueueUnavailable
from pyfaas.gateway.callback_rules import redact
from pyfaas.gateway.callid import CALL_ID
from pyfaas.gateway.responses import json_response
from pyfaas.gateway.state import STATE
from pyfaas.queue.base import FunctionStats, Queue
from pyfaas.queue.envelope import CallRecord, CallState, callback_id, with_callback

TRUNCATED = "X-Result-Truncated"
# The framing of the stored answer is this response's own.
_DROP_FROM_RESULT = HOP_BY_HOP | {"content-length", CALL_ID.lower(), TRUNCATED.lower()}
CANCELLABLE = (CallState.QUEUED, CallState.DELAYED, CallState.RETRYING)


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
    if record.callback_url:
        # The callback travels as a queued delivery of its own; its outcome
        # is read from that delivery's record.
        record = with_callback(record, await queue.record(callback_id(call_id)))
    return record


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
    app.router.add_get("/system/calls/{call_id}", call_record)
    app.router.add_delete("/system/calls/{call_id}", cancel)
    app.router.add_get("/system/calls/{call_id}/result", call_result)
    app.router.add_get("/system/queue", queue_stats)
