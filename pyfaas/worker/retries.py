"""Retry decisions: exponential backoff with full jitter, ``Retry-After``, per-function policy.

A function can override the worker's retry settings with OpenFaaS Pro's
annotations (``com.openfaas.retry.attempts``, ``.codes``, ``.min_wait``,
``.max_wait``) and cap its own concurrency with ``com.pyfaas.queue.max_inflight``.
The annotations are read from the gateway and cached for a few seconds, so
a burst of calls costs one look-up, not one per call.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime

from pyfaas._env import parse_duration, parse_int
from pyfaas.errors import ConfigError
from pyfaas.worker.settings import WorkerSettings, parse_codes

ATTEMPTS = "com.openfaas.retry.attempts"
CODES = "com.openfaas.retry.codes"
MIN_WAIT = "com.openfaas.retry.min_wait"
MAX_WAIT = "com.openfaas.retry.max_wait"
MAX_INFLIGHT = "com.pyfaas.queue.max_inflight"
GONE = 404  # the gateway's answer for a function that no longer exists


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    codes: frozenset[int]
    min_wait: float
    max_wait: float
    max_inflight: int | None = None  # per-function cap; None: only the global one
    exists: bool = True  # False when the gateway said the function is gone

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> RetryPolicy:
        return cls(
            attempts=settings.max_retry_attempts,
            codes=settings.retry_codes,
            min_wait=settings.initial_retry_wait,
            max_wait=settings.max_retry_wait,
        )

    def with_annotations(self, annotations: dict[str, str]) -> RetryPolicy:
        """This policy overridden by a function's annotations; bad ones raise ConfigError."""
        policy = self
        if ATTEMPTS in annotations:
            policy = replace(policy, attempts=parse_int(ATTEMPTS, annotations[ATTEMPTS], minimum=1))
        if CODES in annotations:
            policy = replace(policy, codes=parse_codes(CODES, annotations[CODES]))
        if MIN_WAIT in annotations:
            policy = replace(policy, min_wait=parse_duration(MIN_WAIT, annotations[MIN_WAIT]))
        if MAX_WAIT in annotations:
            policy = replace(policy, max_wait=parse_duration(MAX_WAIT, annotations[MAX_WAIT]))
        if MAX_INFLIGHT in annotations:
            limit = parse_int(MAX_INFLIGHT, annotations[MAX_INFLIGHT], minimum=1)
            policy = replace(policy, max_inflight=limit)
        return replace(policy, max_wait=max(policy.max_wait, policy.min_wait))


def backoff(policy: RetryPolicy, failures: int, rng: random.Random) -> float:
    """Wait before the next attempt after ``failures`` failed ones: full jitter.

    The ceiling doubles with each failure from ``min_wait`` up to ``max_wait``;
    the wait is drawn between ``min_wait`` and that ceiling, so retries of
    many calls failing together spread out instead of stampeding.
    """
    ceiling = min(policy.max_wait, policy.min_wait * 2 ** max(failures - 1, 0))
    return rng.uniform(policy.min_wait, max(ceiling, policy.min_wait))


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


# Why a call is buried, as its dead letter's ``reason`` says (``CallRecord.reason``).
RETRIES_EXHAUSTED = "retries exhausted"
FUNCTION_REMOVED = "function removed"
NOT_RETRYABLE = "not retryable: {status}"


@dataclass(frozen=True)
class Decision:
    """What to do with a finished attempt: settle for good, or retry after ``delay``.

    ``reason`` is the short cause a dead letter is filed under (one of the
    constants above, for a failure); ``detail`` the line for the call's error.
    """

    retry: bool
    delay: float = 0.0
    reason: str = ""
    detail: str = ""


def decide(
    policy: RetryPolicy,
    status: int,
    attempt: int,
    retry_after_header: str | None,
    rng: random.Random,
) -> Decision:
    if 200 <= status < 300:
        return Decision(retry=False)
    if status == GONE and not policy.exists:
        return Decision(retry=False, reason=FUNCTION_REMOVED, detail="function not found")
    if status not in policy.codes:
        reason = NOT_RETRYABLE.format(status=status)
        return Decision(retry=False, reason=reason, detail=f"status {status} is not retried")
    if attempt >= policy.attempts:
        detail = f"status {status} after {attempt} attempts"
        return Decision(retry=False, reason=RETRIES_EXHAUSTED, detail=detail)
    delay = backoff(policy, attempt, rng)
    if status in (429, 503):
        asked = retry_after(retry_after_header, time.time())
        if asked is not None:
            # The function knows when it can take the call; min_wait is our floor, and
            # max_wait never cuts a server's request short.
            delay = max(asked, policy.min_wait)
    return Decision(retry=True, delay=delay, reason=f"status {status}", detail=f"status {status}")


Lookup = Callable[[str, str], Awaitable[dict[str, str] | None]]


class PolicyCache:
    """Per-function policies from the gateway, cached for ``ttl`` seconds.

    Concurrent misses for one function share a single look-up (a task no
    caller can cancel). When the gateway cannot answer, the defaults are used
    and cached too, so a gateway in trouble is not asked once per call.
    """

    def __init__(
        self,
        default: RetryPolicy,
        lookup: Lookup,
        *,
        ttl: float = 5.0,
        on_error: Callable[[str], None] = lambda text: None,
    ) -> None:
        self.default = default
        self._lookup = lookup
        self._ttl = ttl
        self._on_error = on_error
        self._entries: dict[str, tuple[float, asyncio.Task[RetryPolicy]]] = {}

    async def get(self, name: str, namespace: str) -> RetryPolicy:
        key = f"{name}.{namespace}"
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None or entry[0] < now:
            entry = (now + self._ttl, asyncio.create_task(self._fetch(name, namespace)))
            self._entries[key] = entry
        task = entry[1]
        if task.done():
            return task.result()
        return await asyncio.shield(task)

    async def close(self) -> None:
        tasks = [task for _, task in self._entries.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._entries.clear()

    async def _fetch(self, name: str, namespace: str) -> RetryPolicy:
        try:
            annotations = await self._lookup(name, namespace)
        except Exception as exc:  # the gateway's trouble must not stop the call
            self._on_error(
                f"Annotations of {name}.{namespace} unavailable, using defaults: {exc!r}"
            )
            return self.default
        if annotations is None:
            return replace(self.default, exists=False)
        try:
            return self.default.with_annotations(annotations)
        except ConfigError as exc:
            self._on_error(f"Annotations of {name}.{namespace} ignored: {exc}")
            return self.default
