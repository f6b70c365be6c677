"""Record bookkeeping shared by the backends: a new call's record, an outcome's state.

Every backend answers ``record(call_id)`` the same way, so the rules for
turning a worker's ``Outcome`` into a ``CallState`` live here once, and so do
the reading of a stored call that may not be one (a stray publish on the
calls subject, a corrupt row) and the record of such a message once it is set
aside as a dead letter.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from pyfaas.queue import _json
from pyfaas.queue.envelope import CallRecord, CallState, Outcome, QueuedCall

# The error of a dead letter that is not a call: what the record shows.
UNDECODABLE = "undecodable payload"


def new_record(call: QueuedCall) -> CallRecord:
    """The record of a call just accepted."""
    return CallRecord(
        call_id=call.call_id,
        function=call.function,
        namespace=call.namespace,
        state=CallState.QUEUED,
        submitted_at=call.submitted_at,
        callback_url=call.callback_url,
    )


def final_state(outcome: Outcome) -> CallState:
    """``succeeded`` for a 2xx answer without error, ``failed`` otherwise."""
    if outcome.error is not None:
        return CallState.FAILED
    if outcome.status_code is None or 200 <= outcome.status_code < 300:
        return CallState.SUCCEEDED
    return CallState.FAILED


def settled(record: CallRecord, state: CallState, outcome: Outcome, now: float) -> CallRecord:
    """``record`` after the worker settled a delivery with ``outcome``."""
    return replace(
        record,
        state=state,
        started_at=outcome.started_at or record.started_at,
        finished_at=None if state is CallState.RETRYING else (outcome.finished_at or now),
        status_code=outcome.status_code,
        error=outcome.error,
        callback_status=outcome.callback_status,
        callback_attempts=outcome.callback_attempts,
    )


def decode_call(data: bytes | str | None) -> QueuedCall | None:
    """The call ``data`` holds, or None if it holds none a worker could run.

    Anything may be published on the calls subject and any program may write
    the SQLite file: a message that is not JSON, lacks a field or has one of
    the wrong type must become a dead letter, not an exception in ``claim``.
    """
    try:
        call = QueuedCall.decode(data.encode() if isinstance(data, str) else data or b"")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # not JSON, not base64, a field missing or of another shape
    # One chain of checks, not a loop: this runs for every call claimed.
    if (
        isinstance(call.call_id, str)
        and call.call_id
        and isinstance(call.function, str)
        and isinstance(call.namespace, str)
        and isinstance(call.method, str)
        and isinstance(call.path, str)
        and isinstance(call.query, str)
        and (call.callback_url is None or isinstance(call.callback_url, str))
    ):
        return call
    return None


def claimed_id(data: bytes | str | None) -> str | None:
    """The call id an undecodable message names, if it names one that could be a key."""
    try:
        raw: Any = _json.loads(data) if data else None
    except ValueError:
        return None
    found = raw.get("id") if isinstance(raw, dict) else None
    return found if isinstance(found, str) and found else None


def undecodable_record(call_id: str, attempts: int, submitted_at: float) -> CallRecord:
    """The record of a message set aside because it holds no call."""
    return CallRecord(
        call_id=call_id,
        function="",
        namespace="",
        state=CallState.DEAD,
        attempts=attempts,
        submitted_at=submitted_at,
        finished_at=time.time(),
        error=UNDECODABLE,
    )
