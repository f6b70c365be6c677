"""The submission headers that steer an asynchronous call: when, until when, which id.

* ``X-Delay-Seconds: N`` (0 to 30 days) or ``X-Not-Before: <RFC 3339>``: the
  call is not run before then (``not_before``); one or the other. A delay of
  0, or a time already past, is no delay: the call is queued as any other.
* ``X-Expire-After: S`` (> 0): a call not started within S seconds of its
  submission is never run (``expire_at``).
* ``Idempotency-Key: K`` (1 to 128 printable ASCII characters, no spaces):
  the call id is derived from K, the function and the namespace, so a
  resubmission, on any gateway sharing the queue, names the first call.

Each is looked up once in the dict of the request's picked headers, so a
submission without them pays nothing more.
"""

from __future__ import annotations

import hashlib
import re

from pyfaas.errors import BadRequest
from pyfaas.gateway.timestamps import rfc3339

DELAY = "X-Delay-Seconds"
NOT_BEFORE = "X-Not-Before"
EXPIRE_AFTER = "X-Expire-After"
IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_DELAY = 30 * 24 * 3600.0
IDEMPOTENT_PREFIX = "idem-"
_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,9})?").fullmatch
_KEY = re.compile(r"[\x21-\x7e]{1,128}").fullmatch


def not_before(delay: str | None, at: str | None, now: float) -> float:
    """Unix seconds before which the call is not run; 0 for no delay."""
    if delay is not None and at is not None:
        raise BadRequest(f"send {DELAY} or {NOT_BEFORE}, not both")
    if delay is not None:
        seconds = _seconds(DELAY, delay)
        if seconds > MAX_DELAY:
            raise BadRequest(f"{DELAY} {delay.strip()} is more than 30 days ({MAX_DELAY:.0f} s)")
        return now + seconds if seconds > 0 else 0.0
    if at is not None:
        when = rfc3339(NOT_BEFORE, at)
        if when > now + MAX_DELAY:
            raise BadRequest(f"{NOT_BEFORE} {at.strip()} is more than 30 days ahead")
        return when if when > now else 0.0
    return 0.0


def expire_at(raw: str, now: float, start: float) -> float:
    """Unix seconds after which the call, not started, is never run."""
    seconds = _seconds(EXPIRE_AFTER, raw)
    if seconds <= 0:
        raise BadRequest(f"{EXPIRE_AFTER} must be more than 0 seconds")
    when = now + seconds
    if start and when <= start:
        raise BadRequest(f"{EXPIRE_AFTER} {raw.strip()} ends before the call may start")
    return when


def idempotent_call_id(namespace: str, function: str, key: str) -> str:
    """The call id of a submission with ``Idempotency-Key: key``."""
    if not _KEY(key):
        raise BadRequest(
            f"{IDEMPOTENCY_KEY} must be 1 to 128 printable ASCII characters without spaces"
        )
    digest = hashlib.sha256(f"{namespace}\0{function}\0{key}".encode()).hexdigest()
    return IDEMPOTENT_PREFIX + digest[:40]


def _seconds(field: str, raw: str) -> float:
    # A plain decimal: float() would also take "nan", "1e9" and "1_0".
    if not _SECONDS(raw.strip()):
        raise BadRequest(f"{field} {raw[:64]!r} is not a number of seconds")
    return float(raw)
