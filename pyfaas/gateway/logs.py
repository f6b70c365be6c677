"""``GET /system/logs``: a function's log lines as NDJSON, flushed line by line.

Query parameters as faas-provider reads them: ``name`` (required),
``namespace``, ``instance``, ``tail`` (int, <= 0 means all), ``follow`` (Go
``ParseBool``) and ``since`` (RFC 3339; unparseable is 422). With
``follow=false`` the stream ends after the existing lines. ``gateway`` and
``queue-worker`` are the platform's own logs, in namespace ``openfaas``
whether the request names it or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web

from pyfaas._env import parse_bool
from pyfaas.errors import BadRequest, ConfigError, Unprocessable
from pyfaas.gateway.state import STATE
from pyfaas.naming import validate_name
from pyfaas.paths import SYSTEM_NAMESPACE
from pyfaas.providers.base import LogQuery
from pyfaas.types import LogMessage

SYSTEM_COMPONENTS = ("gateway", "queue-worker")
DISCONNECT_POLL = 0.5  # seconds between checks that a following client is still there
FIRST_STEP_WAIT = 0.2  # seconds the first line may take before the answer starts


def _since(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Unprocessable(
            f"could not parse the log request: since {raw!r} is not RFC3339"
        ) from None
    if moment.tzinfo is None:
        raise Unprocessable(f"could not parse the log request: since {raw!r} has no zone")
    return moment


def _query(request: web.Request, namespace: str) -> LogQuery:
    params = request.query
    name = params.get("name", "")
    if not name:
        raise BadRequest("name is required")
    try:
        follow = parse_bool("follow", params.get("follow") or "false")
    except ConfigError as exc:
        raise BadRequest(exc.message) from None
    try:
        tail = int(params.get("tail") or "-1")
    except ValueError:
        raise BadRequest(f"tail {params.get('tail')!r} is not an integer") from None
    return LogQuery(
        name=name,
        namespace=namespace,
        follow=follow,
        tail=tail,
        since=_since(params.get("since")),
        instance=params.get("instance") or None,
    )


async def logs(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    name = request.query.get("name", "")
    namespace = request.query.get("namespace") or None
    if name in SYSTEM_COMPONENTS and namespace in (None, SYSTEM_NAMESPACE):
        # The platform's own components log under the system namespace, named
        # or not, as OpenFaaS's run in namespace openfaas.
        namespace = SYSTEM_NAMESPACE
    else:
        if name:
            validate_name(name)
        namespace = await state.namespace(namespace)
    query = _query(request, namespace)
    messages = state.provider.logs(query)
    # The provider says an unknown function is unknown on its first step: wait a
    # moment for that step, so the answer is a 404 with its reason instead of a
    # stream that breaks off. A followed log with no lines yet keeps waiting,
    # after the answer has started.
    first = asyncio.ensure_future(_first(messages))
    await asyncio.wait({first}, timeout=FIRST_STEP_WAIT)
    if first.done() and first.exception() is not None:
        await _close(messages)
        first.result()  # raises: a NotFound is the 404
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    try:
        await response.prepare(request)
    except BaseException:
        first.cancel()
        await _close(messages)
        raise
    copying = asyncio.ensure_future(_copy(first, messages, response))
    try:
        # A followed log with no new lines never notices that its client left
        # (aiohttp may not cancel the handler): watch the connection too.
        while not copying.done():
            await asyncio.wait({copying}, timeout=DISCONNECT_POLL)
            transport = request.transport
            if transport is None or transport.is_closing():
                return response
        copying.result()
        await response.write_eof()
        return response
    finally:
        if not copying.done():
            copying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await copying


async def _first(messages: AsyncIterator[LogMessage]) -> LogMessage | None:
    try:
        return await anext(messages)
    except StopAsyncIteration:
        return None


async def _close(messages: AsyncIterator[LogMessage]) -> None:
    closing = getattr(messages, "aclose", None)
    if closing is not None:
        with contextlib.suppress(Exception):
            await closing()


async def _copy(
    first: asyncio.Future[LogMessage | None],
    messages: AsyncIterator[LogMessage],
    response: web.StreamResponse,
) -> None:
    try:
        message = await first
        if message is None:
            return
        await response.write(json.dumps(message.to_wire()).encode() + b"\n")
        async for message in messages:
            await response.write(json.dumps(message.to_wire()).encode() + b"\n")
    finally:
        if not first.done():
            first.cancel()
        await _close(messages)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/system/logs", logs)
