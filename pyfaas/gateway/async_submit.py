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

Steering (``steering``): a delay or a not-before time, an expiry, and an
``Idempotency-Key`` the call id is derived from. Every submission carries
its ``fingerprint`` (function, method, path, query and a sha256 of the
body): a reused ``X-Call-Id`` or ``Idempotency-Key`` with the same one
answers 202 with the first call's id and stores nothing; with another, 409.
The callback URL is checked against ``callback_rules`` and the chain depth
capped. The request's headers are walked once: the ones the gateway reads
are picked into a dict on the way, so each costs one look-up.
"""

from __future__ import annotations

import logging
import time

from yarl import URL

from pyfaas._http import HOP_BY_HOP
from pyfaas.errors import (
    BadRequest,
    Conflict,
    MethodNotAllowed,
    NotFound,
    QueueUnavailable,
    QueueUncertain,
)
from pyfaas.gateway import steering
from pyfaas.gateway.bodies import read_bounded
from pyfaas.gateway.callback_rules import DEPTH_HEADER, OwnAddress, redact
from pyfaas.gateway.callid import CALL_ID, SERVED_BY, SERVED_BY_VALUE, START_TIME, call_identity
from pyfaas.gateway.refs import FunctionRefs
from pyfaas.gateway.state import GatewayState
from pyfaas.httpd.messages import Request, Response
from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import QueuedCall, fingerprint

log = logging.getLogger("pyfaas.gateway")
CALLBACK_URL = "X-Callback-Url"
PREFIX = "/async-function/"
_DROP = HOP_BY_HOP | {"host", "content-length", CALL_ID.lower(), START_TIME.lower()}
# The headers the gateway reads, by their lower-case names.
_PICKED = frozenset(
    name.lower()
    for name in (
        CALLBACK_URL,
        CALL_ID,
        "Host",
        DEPTH_HEADER,
        steering.DELAY,
        steering.NOT_BEFORE,
        steering.EXPIRE_AFTER,
        steering.IDEMPOTENCY_KEY,
    )
)


def callback_url(raw: str | None) -> str | None:
    """The callback URL if it is an absolute http(s) URL; ``BadRequest`` otherwise."""
    if raw is None:
        return None
    url = _parse_callback(raw)
    return str(url) if url.host else None


def _parse_callback(raw: str) -> URL:
    """The URL of an ``X-Callback-Url`` value; the empty URL for a blank one."""
    if not raw.strip():
        return URL()
    # The URL parser would silently drop CR/LF; refuse them instead of guessing.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise BadRequest("X-Callback-Url must not contain control characters")
    shown = redact(raw[:200])
    try:
        url = URL(raw.strip())
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"X-Callback-Url {shown!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise BadRequest(f"X-Callback-Url {shown!r} must be an absolute http or https URL")
    return url


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
        kept, picked = _split_headers(request.headers, state.admin)
        now = time.time()
        call, start = _steered_call(state, picked, name, namespace, now)
        limit = state.settings.max_async_body
        call.body = await read_bounded(request.body, request.body.content_length, limit)
        call.method, call.path, call.query = request.method, slash + rest, request.query
        kept.append((CALL_ID, call.call_id))
        kept.append((START_TIME, start))
        call.headers = kept
        call.fingerprint = fingerprint(
            name, namespace, call.method, call.path, call.query, call.body
        )
        if state.queue is None:
            raise QueueUnavailable("no queue is configured for asynchronous calls")
        if state.settings.log_calls:
            # OpenFaaS's line; per call it costs a tenth of the accept rate, so
            # it follows write_request_uri like the synchronous path's line.
            log.info("[%s] Queueing (%d) bytes for: %s.", call.call_id, len(call.body), label)
        stored = await _put(state.queue, call, picked)
    except Exception as exc:
        state.metrics.submitted(label, getattr(exc, "status", 500))
        raise
    state.metrics.submitted(label, 202, stored)
    headers = [(CALL_ID, call.call_id), (START_TIME, start), (SERVED_BY, SERVED_BY_VALUE)]
    return Response(202, headers)


def _split_headers(
    headers: list[tuple[str, str]], admin: str | None
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(the headers the call keeps, the first value of each header the gateway reads).

    A value equal to the admin login (``auth.admin_login``) is not kept: the
    call's record, its dead letter and the function never see it.
    """
    kept: list[tuple[str, str]] = []
    picked: dict[str, str] = {}
    for key, value in headers:
        lower = key.lower()
        if lower in _PICKED and lower not in picked:
            picked[lower] = value
        if lower not in _DROP and value != admin:
            kept.append((key, value))
    return kept, picked


def _steered_call(
    state: GatewayState, picked: dict[str, str], name: str, namespace: str, now: float
) -> tuple[QueuedCall, str]:
    """(the call with its id, schedule, callback and depth, its ``X-Start-Time``).

    ``BadRequest`` on a bad header; the body and the request's parts come later.
    """
    key = picked.get("idempotency-key")
    given = picked.get("x-call-id")
    if key is None:
        call_id, start = call_identity(given)
    elif given is not None:
        raise BadRequest(f"send {steering.IDEMPOTENCY_KEY} or {CALL_ID}, not both")
    else:
        call_id, start = steering.idempotent_call_id(namespace, name, key), str(time.time_ns())
    delay, at = picked.get("x-delay-seconds"), picked.get("x-not-before")
    start_at = 0.0 if delay is None and at is None else steering.not_before(delay, at, now)
    expiry = picked.get("x-expire-after")
    expire = 0.0 if expiry is None else steering.expire_at(expiry, now, start_at)
    rules = state.callback_rules
    depth = rules.depth(picked.get("x-pyfaas-callback-depth"))
    callback: str | None = None
    raw = picked.get("x-callback-url")
    if raw is not None:
        url = _parse_callback(raw)
        if url.host:
            rules.check(url, OwnAddress(picked.get("host"), state.public_port))
            callback = str(url)
    call = QueuedCall(
        call_id=call_id,
        function=name,
        namespace=namespace,
        callback_url=callback,
        submitted_at=now,
        not_before=start_at,
        expire_at=expire,
        depth=depth,
    )
    return call, start


async def _put(queue: Queue, call: QueuedCall, picked: dict[str, str]) -> bool:
    """``queue.put``: True if it stored the call, False if it held it already."""
    try:
        return await queue.put(call)
    except QueueUncertain as exc:
        # Answered with the call's X-Call-Id (its headers): the caller needs it.
        raise QueueUncertain(
            f"the queue could not confirm call {call.call_id} ({exc}); it may run:"
            f" submit it again with X-Call-Id: {call.call_id} to run it exactly once",
            call.call_id,
        ) from exc
    except Conflict as exc:
        if "idempotency-key" in picked:
            used = f"{steering.IDEMPOTENCY_KEY} {picked['idempotency-key']!r} (call {call.call_id})"
        else:
            used = f"{CALL_ID} {call.call_id}"
        raise Conflict(f"{used} was used for another request: another function or body") from exc
