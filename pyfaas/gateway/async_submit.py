"""``POST /async-function/{name}[.{ns}][/{rest}]``: honest asynchronous admission.

A 202 means the call is durably queued: the function exists, the body is
within ``PYFAAS_MAX_ASYNC_BODY``, any ``X-Callback-Url`` is an absolute
http(s) URL, and ``queue.put`` has returned. Otherwise the caller hears why:
404, 413, 400, or 503 when the queue cannot take it; a 503 means the call
was not stored, except one that carries the call's ``X-Call-Id`` (the queue
could not tell whether it stored it): that call may run, and submitting it
again with that ``X-Call-Id`` runs it exactly once. A caller's own
``X-Call-Id`` is kept, so a retried submission is stored once and still 202.
Served by ``pyfaas.httpd`` (see ``front``), not aiohttp.
"""

from __future__ import annotations

import logging
import time

from yarl import URL

from pyfaas._http import HOP_BY_HOP
from pyfaas.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    QueueUnavailable,
    QueueUncertain,
)
from pyfaas.gateway.bodies import read_bounded
from pyfaas.gateway.callid import CALL_ID, SERVED_BY, SERVED_BY_VALUE, START_TIME, call_identity
from pyfaas.gateway.refs import FunctionRefs
from pyfaas.gateway.state import GatewayState
from pyfaas.httpd.messages import Request, Response
from pyfaas.queue.envelope import QueuedCall

log = logging.getLogger("pyfaas.gateway")
CALLBACK_URL = "X-Callback-Url"
PREFIX = "/async-function/"
_DROP = HOP_BY_HOP | {"host", "content-length", CALL_ID.lower(), START_TIME.lower()}


def callback_url(raw: str | None) -> str | None:
    """The callback URL if it is an absolute http(s) URL; ``BadRequest`` otherwise."""
    if raw is None or not raw.strip():
        return None
    # The URL parser would silently drop CR/LF; refuse them instead of guessing.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise BadRequest("X-Callback-Url must not contain control characters")
    try:
        url = URL(raw.strip())
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"X-Callback-Url {raw[:200]!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise BadRequest(f"X-Callback-Url {raw[:200]!r} must be an absolute http or https URL")
    return str(url)


async def submit(state: GatewayState, refs: FunctionRefs, request: Request) -> Response:
    """Queue the call durably and answer 202, or say why not."""
    raw_ref, slash, rest = request.path[len(PREFIX) :].partition("/")
    if not raw_ref:
        raise NotFound("404: Not Found")
    if request.method != "POST":
        raise MethodNotAllowed(f"method {request.method} is not allowed", ("POST",))
    name, namespace, label = refs.split(raw_ref)
    try:
        if not await state.provider.has_function(name, namespace):
            raise NotFound(f"error finding function {label}: not found")
        callback = callback_url(request.header(CALLBACK_URL))
        limit = state.settings.max_async_body
        body = await read_bounded(request.body, request.body.content_length, limit)
        call_id, start = call_identity(request.header(CALL_ID))
        call = _queued_call(request, name, namespace, slash + rest, call_id, start, body, callback)
        if state.queue is None:
            raise QueueUnavailable("no queue is configured for asynchronous calls")
        if state.settings.log_calls:
            # OpenFaaS's line; per call it costs a tenth of the accept rate, so
            # it follows write_request_uri like the synchronous path's line.
            log.info("[%s] Queueing (%d) bytes for: %s.", call_id, len(body), label)
        try:
            await state.queue.put(call)
        except QueueUncertain as exc:
            # Answered with the call's X-Call-Id (its headers): the caller needs it.
            raise QueueUncertain(
                f"the queue could not confirm call {call_id} ({exc}); it may run:"
                f" submit it again with X-Call-Id: {call_id} to run it exactly once",
                call_id,
            ) from exc
    except Exception as exc:
        state.metrics.submitted(label, getattr(exc, "status", 500))
        raise
    state.metrics.submitted(label, 202)
    return Response(202, [(CALL_ID, call_id), (START_TIME, start), (SERVED_BY, SERVED_BY_VALUE)])


def _queued_call(
    request: Request,
    name: str,
    namespace: str,
    rest: str,  # the path after the function's name, as sent
    call_id: str,
    start: str,
    body: bytes,
    callback: str | None,
) -> QueuedCall:
    headers = [(k, v) for k, v in request.headers if k.lower() not in _DROP]
    headers += [(CALL_ID, call_id), (START_TIME, start)]
    return QueuedCall(
        call_id=call_id,
        function=name,
        namespace=namespace,
        method=request.method,
        path=rest,
        query=request.query,
        headers=headers,
        body=body,
        callback_url=callback,
        submitted_at=time.time(),
    )
