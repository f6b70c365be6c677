"""Instants as callers write them: RFC 3339 (``2026-12-02T07:00:00Z``) or Unix seconds.

``X-Not-Before`` takes RFC 3339 only, as HTTP APIs write dates; the dead-letter
filters' ``since`` takes either. A bad value is a ``BadRequest`` naming the
field; a time without a zone is refused, for it would mean the gateway's zone.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from pyfaas.errors import BadRequest

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
).fullmatch


def rfc3339(field: str, raw: str) -> float:
    """Unix seconds of an RFC 3339 date-time."""
    match = _RFC3339(raw.strip())
    if match is None:
        raise BadRequest(f"{field} {raw[:64]!r} is not an RFC 3339 date-time with a zone")
    day, clock, fraction, zone = match.groups()
    # fromisoformat takes at most six digits of fraction; RFC 3339 allows more.
    micros = (fraction or "0")[:6].ljust(6, "0")
    offset = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{day}T{clock}.{micros}{offset}").timestamp()
    except ValueError as exc:
        raise BadRequest(f"{field} {raw[:64]!r} is not a valid date-time: {exc}") from None


def instant(field: str, raw: str) -> float:
    """Unix seconds of Unix seconds or an RFC 3339 date-time."""
    try:
        number = float(raw)
    except ValueError:
        return rfc3339(field, raw)
    if not math.isfinite(number) or number < 0:
        raise BadRequest(f"{field} {raw[:64]!r} is not a time (Unix seconds or RFC 3339)")
    return number
