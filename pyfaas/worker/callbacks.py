"""Posting a call's result to its ``X-Callback-Url``: signed, validated, retried.

As in OpenFaaS the callback's body is the function's response body (empty
when the gateway could not be reached) and its headers are the function's
response headers plus ``X-Call-Id``, ``X-Function-Name``,
``X-Function-Status`` and ``X-Duration-Seconds``. On top of that the
receiver gets the original ``X-Start-Time``, and, when the platform has a
signing key, ``X-Pyfaas-Timestamp`` and ``X-Pyfaas-Signature: sha256=<hex
HMAC-SHA256 of "<timestamp>.<call id>." + body>`` — signing the timestamp and
the call id with the body lets a receiver refuse a replayed or re-labelled
result (check the age, remember the call ids it has seen). Failed posts are retried with backoff; a
callback that fails for good is reported, never a reason to run the call again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from pyfaas._http import HOP_BY_HOP, header_value
from pyfaas.queue.envelope import QueuedCall
from pyfaas.worker.invoke import USER_AGENT, InvokeResult, describe
from pyfaas.worker.logs import EventLog
from pyfaas.worker.retries import RetryPolicy, backoff, retry_after

SIGNATURE_HEADER = "X-Pyfaas-Signature"
TIMESTAMP_HEADER = "X-Pyfaas-Timestamp"
_NOT_COPIED = HOP_BY_HOP | {"content-length", "host"}
_RETRIED = frozenset({408, 425, 429})


@dataclass(frozen=True)
class CallbackResult:
    status: int | None  # the receiver's last answer; None if it never answered
    attempts: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


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


def callback_headers(
    call: QueuedCall, result: InvokeResult, seconds: float, key: bytes | None
) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in result.headers:
        # A value with CR or LF could smuggle headers into the receiver's request.
        if name.lower() not in _NOT_COPIED and "\r" not in value and "\n" not in value:
            headers.add(name, value)
    headers["X-Call-Id"] = call.call_id
    headers["X-Function-Name"] = call.function_ref
    headers["X-Function-Status"] = str(result.status)
    headers["X-Duration-Seconds"] = f"{seconds:f}"
    headers["X-Start-Time"] = start_time(call)
    headers["User-Agent"] = USER_AGENT
    if key:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = sign(result.body, key, timestamp, call.call_id)
    return headers


class CallbackSender:
    """Posts results to callback URLs, retrying failed posts with backoff."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        log: EventLog,
        *,
        attempts: int,
        policy: RetryPolicy,
        signing_key: bytes | None = None,
        timeout: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._log = log
        self._attempts = attempts
        self._policy = policy
        self._key = signing_key
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=10)
        self._rng = rng or random.Random()

    async def send(
        self, seq: int, url: str, call: QueuedCall, result: InvokeResult, seconds: float
    ) -> CallbackResult:
        problem = check_url(url)
        if problem:
            self._log.callback_refused(seq, url, problem)
            return CallbackResult(status=None, attempts=0, error=f"refused: {problem}")
        headers = callback_headers(call, result, seconds, self._key)
        status: int | None = None
        error = ""
        for attempt in range(1, self._attempts + 1):
            status, error, wait_hint = await self._post_once(url, result.body, headers)
            if status is not None and 200 <= status < 300:
                self._log.callback_posted(seq, url, status, attempt)
                return CallbackResult(status=status, attempts=attempt)
            if (status is not None and not _retryable(status)) or attempt == self._attempts:
                self._log.callback_failed(seq, url, error, attempt)
                return CallbackResult(status=status, attempts=attempt, error=error)
            delay = backoff(self._policy, attempt, self._rng)
            if wait_hint is not None:
                delay = min(max(wait_hint, self._policy.min_wait), self._policy.max_wait)
            self._log.callback_retry(seq, url, error, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the loop returns on its last attempt")

    async def _post_once(
        self, url: str, body: bytes, headers: CIMultiDict[str]
    ) -> tuple[int | None, str, float | None]:
        """(status or None, error text, Retry-After seconds if given) of one post."""
        try:
            async with self._session.post(
                URL(url),
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout,
            ) as response:
                await response.read()
                hint = retry_after(response.headers.get("Retry-After"), time.time())
                return response.status, f"status {response.status}", hint
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            return None, describe(exc, self._timeout.total), None


def _retryable(status: int) -> bool:
    return status >= 500 or status in _RETRIED
