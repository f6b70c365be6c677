"""Checking a callback's signature, as a receiver of pyfaas's callbacks would.

The queue-worker signs each callback with the platform's callback signing
key: ``X-Pyfaas-Timestamp`` (Unix seconds) and ``X-Pyfaas-Signature:
sha256=<hex HMAC-SHA256 of "<timestamp>.<X-Call-Id>." + body>``. Signing the
timestamp and the call id with the body means a receiver that checks the age
and remembers the call ids it has seen refuses forged, replayed and
re-labelled results alike. Standard library only: a receiver needs nothing
else of pyfaas.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from pyfaas.errors import Unauthorized

SIGNATURE_HEADER = "X-Pyfaas-Signature"
TIMESTAMP_HEADER = "X-Pyfaas-Timestamp"
CALL_ID_HEADER = "X-Call-Id"


def callback_problem(
    headers: Mapping[str, str],
    body: bytes,
    key: bytes | str,
    max_age: float = 300.0,
    *,
    now: float | None = None,
) -> str | None:
    """Why the callback cannot be trusted, or ``None`` if its signature holds.

    ``headers`` may be any mapping (aiohttp's, ``http.server``'s message, a
    dict): names are matched without regard to case. A timestamp more than
    ``max_age`` seconds away from ``now``, past or future, is refused.
    """
    signature = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    call_id = _header(headers, CALL_ID_HEADER)
    if signature is None or stamp is None:
        return f"the callback is not signed (no {SIGNATURE_HEADER} or {TIMESTAMP_HEADER})"
    if call_id is None:
        return f"the callback has no {CALL_ID_HEADER}"
    if not stamp.isdigit():
        return f"{TIMESTAMP_HEADER} {stamp[:40]!r} is not Unix seconds"
    age = (time.time() if now is None else now) - int(stamp)
    if abs(age) > max_age:
        return f"{TIMESTAMP_HEADER} is {age:.0f}s old, more than {max_age:g}s"
    secret = key.encode() if isinstance(key, str) else key
    message = f"{stamp}.{call_id}.".encode() + body
    expected = "sha256=" + hmac.new(secret, message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        return f"{SIGNATURE_HEADER} does not match the body, call id and timestamp"
    return None


def verify_callback(
    headers: Mapping[str, str],
    body: bytes,
    key: bytes | str,
    max_age: float = 300.0,
    *,
    now: float | None = None,
) -> bool:
    """True if the callback was signed with ``key`` less than ``max_age`` seconds ago."""
    return callback_problem(headers, body, key, max_age, now=now) is None


def check_callback(
    headers: Mapping[str, str],
    body: bytes,
    key: bytes | str,
    max_age: float = 300.0,
    *,
    now: float | None = None,
) -> None:
    """``verify_callback`` that raises ``Unauthorized`` saying why, for a receiver to answer 401."""
    problem = callback_problem(headers, body, key, max_age, now=now)
    if problem is not None:
        raise Unauthorized(problem)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    found = headers.get(name)
    if found is not None:
        return found
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)
