"""pyfaas's asynchronous extensions under ``/system`` (basic auth like the rest).

``GET /system/calls/{id}`` answers "where is my call?", ``/system/dead-letters``
lists buried calls, ``POST /system/dead-letters/{id}/replay`` queues one again,
and ``GET /system/queue`` counts queued, running and dead calls.
"""

from __future__ import annotations

from aiohttp import web

from pyfaas.errors import BadRequest, NotFound, QueueUnavailable
from pyfaas.gateway.responses import accepted, json_response
from pyfaas.gateway.state import STATE
from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import callback_id, with_callback

MAX_DEAD_LETTERS = 1000


def _queue(request: web.Request) -> Queue:
    queue = request.app[STATE].queue
    if queue is None:
        raise QueueUnavailable("no queue is configured for asynchronous calls")
    return queue


async def call_record(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    record = await _queue(request).record(call_id)
    if record is None:
        raise NotFound(f"call {call_id} not found")
    if record.callback_url:
        # The callback travels as a queued delivery of its own; its outcome
        # is read from that delivery's record.
        record = with_callback(record, await _queue(request).record(callback_id(call_id)))
    return json_response(record.to_wire())


async def dead_letters(request: web.Request) -> web.Response:
    raw = request.query.get("limit") or "100"
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest(f"limit {raw!r} is not an integer") from None
    if not 1 <= limit <= MAX_DEAD_LETTERS:
        raise BadRequest(f"limit must be between 1 and {MAX_DEAD_LETTERS}")
    records = await _queue(request).dead_letters(limit)
    return json_response([record.to_wire() for record in records])


async def replay(request: web.Request) -> web.Response:
    await _queue(request).replay(request.match_info["call_id"])
    return accepted()


async def queue_stats(request: web.Request) -> web.Response:
    stats = await _queue(request).stats()
    return json_response({"queued": stats.queued, "running": stats.running, "dead": stats.dead})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/system/calls/{call_id}", call_record)
    app.router.add_get("/system/dead-letters", dead_letters)
    app.router.add_post("/system/dead-letters/{call_id}/replay", replay)
    app.router.add_get("/system/queue", queue_stats)
