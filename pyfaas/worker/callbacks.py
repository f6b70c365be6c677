"""Posting a call's result to its ``X-Callback-Url``: signed, validated, one post at a time.

As in OpenFaaS the callback's body is the function's response body (empty
when the gateway could not be reached) and its headers are the function's
response headers plus ``X-Call-Id``, ``X-Function-Name``,
``X-Function-Status`` and ``X-Duration-Seconds``. On top of that the
receiver gets the original ``X-Start-Time``, and, when the platform has a
signing key, ``X-Pyfaas-Timestamp`` and ``X-Pyfaas-Signature: sha256=<hex
HMAC-SHA256 of "<timestamp>.<call id>." + body>`` — signing the timestamp and
the call id with the body lets a receiver refuse a replayed or re-labelled
result (check the age, remember the call ids it has seen). Each post
carries ``X-Pyfaas-Callback-Depth``: one more than the call's own depth, so
a callback into a gateway's ``/async-function/...`` queues a call one link
further down the chain, and the gateway refuses a chain past its cap
(``PYFAAS_MAX_CALLBACK_DEPTH``) instead of looping for ever; the function
cannot reset it with a header of its own.

A callback is posted from a queued delivery of its own (``answer_call``
makes it), so a slow receiver holds no function slot; ``outbox`` decides
what follows a failed post. A callback that fails for good is reported,
never a reason to run the call again.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from pyfaas._http import HOP_BY_HOP, header_value
from pyfaas.queue.envelope import Answer, QueuedCall, callback_id
from pyfaas.worker.callback_guard import Allowed, Refused
from pyfaas.worker.invoke import USER_AGENT, InvokeResult, describe
from pyfaas.worker.retries import retry_after

DEPTH_HEADER = "X-Pyfaas-Callback-Depth"
SIGNATURE_HEADER = "X-Pyfaas-Signature"
TIMESTAMP_HEADER = "X-Pyfaas-Timestamp"
_NOT_COPIED = HOP_BY_HOP | {"content-length", "host"}
_RETRIED = frozenset({408, 425, 429})


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a callback URL, or ``None`` if it can."""
    if any(ch in url for ch in "\r\n\t ") or not url.isprintable():
        return "contains whitespace or control characters"
    try:
        parsed = URL(url)
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parsed.scheme not in ("http", "https"):
        return "only http and https callbacks are posted"
    if not parsed.host:
        return "has no host"
    return None


def sign(body: bytes, key: bytes, timestamp: str, call_id: str) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>.<call id>." + body``."""
    message = f"{timestamp}.{call_id}.".encode() + body
    return "sha256=" + hmac.new(key, message, hashlib.sha256).hexdigest()


def start_time(call: QueuedCall) -> str:
    """The submission's ``X-Start-Time`` (Unix nanoseconds), as the gateway stamped it."""
    stamped = header_value(call.headers, "X-Start-Time")
    return stamped if stamped is not None else str(int(call.submitted_at * 1e9))


def answer_call(call: QueuedCall, result: InvokeResult, seconds: float, url: str) -> QueuedCall:
    """The callback delivery of ``call``: what ``url`` is to receive, as a call to queue.

    Only the function's headers that may be copied are kept: a value with CR
    or LF could smuggle headers into the receiver's request.
    """
    headers = [
        (name, value)
        for name, value in result.headers
        if name.lower() not in _NOT_COPIED and "\r" not in value and "\n" not in value
    ]
    return QueuedCall(
        call_id=callback_id(call.call_id),
        function=call.function,
        namespace=call.namespace,
        headers=headers,
        body=result.body,
        callback_url=url,
        # The put's own time: a second put after the stream's dedupe window
        # is then told from the first by the queue (NATS compares them).
        submitted_at=time.time(),
        answer=Answer(call.call_id, result.status, seconds, start_time(call)),
        depth=call.depth,
    )


def callback_headers(delivery: QueuedCall, key: bytes | None) -> CIMultiDict[str]:
    """The headers posted with callback ``delivery`` (made by ``answer_call``)."""
    answer = delivery.answer
    assert answer is not None, "not a callback delivery"
    headers: CIMultiDict[str] = CIMultiDict(delivery.headers)
    headers["X-Call-Id"] = answer.call_id
    headers["X-Function-Name"] = delivery.function_ref
    headers["X-Function-Status"] = str(answer.status)
    headers["X-Duration-Seconds"] = f"{answer.seconds:f}"
    headers["X-Start-Time"] = answer.start_time
    headers["User-Agent"] = USER_AGENT
    headers[DEPTH_HEADER] = str(delivery.depth + 1)
    if key:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(delivery.body, key, timestamp, answer.call_id)
    return headers


@dataclass(frozen=True)
class Posted:
    """One post of a callback: the receiver's status (None: no answer), why it failed, its hint."""

    status: int | None
    error: str = ""
    retry_after: float | None = None  # seconds, from the receiver's Retry-After
    refused: bool = False  # an address no callback may reach: never tried again

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        if self.refused:
            return False
        return self.status is None or self.status >= 500 or self.status in _RETRIED


class CallbackSender:
    """Posts one callback at a time, within ``timeout``; the outbox decides what follows."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        signing_key: bytes | None = None,
        timeout: float = 30.0,
        allowed: Allowed | None = None,
    ) -> None:
        self._session = session
        self._key = signing_key
        self._allowed = allowed or Allowed()
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10))

    async def post(self, delivery: QueuedCall) -> Posted:
        url = delivery.callback_url or ""
        headers = callback_headers(delivery, self._key)
        try:
            self._allowed.check_host(URL(url).host or "")
            async with self._session.post(
                URL(url),
                data=delivery.body,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                await response.read()
                hint = retry_after(response.headers.get("Retry-After"), time.time())
                return Posted(response.status, f"status {response.status}", hint)
        except Refused as exc:
            return Posted(None, f"refused: {exc}", refused=True)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, Refused):
                return Posted(None, f"refused: {exc.os_error}", refused=True)
            return Posted(None, describe(exc, self._timeout.total))
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            return Posted(None, describe(exc, self._timeout.total))
