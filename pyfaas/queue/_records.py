"""Record bookkeeping shared by the backends: a new call's record, an outcome's state.

Every backend answers ``record(call_id)`` the same way, so the rules for
turning a worker's ``Outcome`` into a ``CallState`` live here once, and so do
the reading of a stored call that may not be one (a stray publish on the
calls subject, a corrupt row) and the record of such a message once it is set
aside as a dead letter.

The steering rules are here too, as pure functions each backend applies in
its own storage: a delayed call's first state, the history an attempt leaves,
the reasons of dead letters, what a cancel and an expiry write, when a
reused call id conflicts, and the fair order in which ``claim`` hands out
calls of different functions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pyfaas.queue import _json
from pyfaas.queue.base import DeadLetterFilter
from pyfaas.queue.envelope import Attempt, CallRecord, CallState, Outcome, QueuedCall

# The error of a dead letter that is not a call: what the record shows.
UNDECODABLE = "undecodable payload"
# The reason of a call set aside because it was not started by its expire_at.
EXPIRED = "expired"
# The reason of a bury whose outcome gave none (workers before reasons were kept).
BURIED = "retries exhausted"
# The fair-claim key of every callback delivery: they take turns as one function.
CALLBACKS = "callbacks"


def new_record(call: QueuedCall, now: float | None = None) -> CallRecord:
    """The record of a call just accepted: ``delayed`` while its ``not_before`` is ahead.

    ``now`` is Unix seconds (the time of the put when not given). The
    callback URL is kept as given; it is redacted where records are shown.
    """
    ahead = call.not_before > (time.time() if now is None else now)
    return CallRecord(
        call_id=call.call_id,
        function=call.function,
        namespace=call.namespace,
        state=CallState.DELAYED if ahead else CallState.QUEUED,
        submitted_at=call.submitted_at,
        callback_url=call.callback_url,
        not_before=call.not_before,
        expire_at=call.expire_at,
        fingerprint=call.fingerprint,
    )


def conflicts(stored: str, offered: str) -> bool:
    """Whether a put of a known call id with fingerprint ``offered`` is a ``Conflict``.

    Calls stored before fingerprints were kept (``""``) match any resubmission.
    """
    return bool(stored) and bool(offered) and stored != offered


def is_delayed(call: QueuedCall, now: float) -> bool:
    """Whether ``call`` may not be handed out yet (``now``: Unix seconds)."""
    return call.not_before > now


def is_expired(call: QueuedCall, attempts: int, now: float) -> bool:
    """Whether ``call`` must be set aside instead of handed out.

    Only a call that never started expires: one that ran (a retry, a lease
    that ran out) already began, and ``expire_at`` bounds the wait for a start.
    """
    return attempts == 0 and 0 < call.expire_at <= now


def final_state(outcome: Outcome) -> CallState:
    """``succeeded`` for a 2xx answer without error, ``failed`` otherwise."""
    return final_state_of(outcome.status_code, outcome.error)


def final_state_of(status_code: int | None, error: str | None) -> CallState:
    """``final_state`` of an outcome with this status and error."""
    if error is not None:
        return CallState.FAILED
    if status_code is None or 200 <= status_code < 300:
        return CallState.SUCCEEDED
    return CallState.FAILED


def attempt_of(number: int, outcome: Outcome, started_at: float | None, now: float) -> Attempt:
    """The ``Attempt`` an outcome reports; the record's start and ``now`` fill its gaps."""
    return Attempt(
        attempt=number,
        started_at=outcome.started_at or started_at,
        finished_at=outcome.finished_at or now,
        status_code=outcome.status_code,
        error=outcome.error,
    )


def with_attempt(record: CallRecord, number: int, outcome: Outcome, now: float) -> CallRecord:
    """``record`` with attempt ``number`` appended to its ``history``.

    A second settle of the same attempt number (a settle written again after
    an uncertain commit) replaces the first instead of adding a row.
    """
    kept = [a for a in record.history if a.attempt != number]
    added = attempt_of(number, outcome, record.started_at, now)
    return replace(record, history=sorted([*kept, added], key=lambda a: a.attempt))


def bury_reason(outcome: Outcome) -> str:
    """Why a buried call is a dead letter: the worker's reason, or ``BURIED``."""
    return bury_reason_of(outcome.reason)


def bury_reason_of(reason: str | None) -> str:
    """``bury_reason`` of an outcome with this reason."""
    return reason or BURIED


def settled(
    record: CallRecord,
    state: CallState,
    outcome: Outcome,
    now: float,
    attempt: int | None = None,
) -> CallRecord:
    """``record`` after the worker settled a delivery with ``outcome``.

    The attempt (``attempt``, else the record's ``attempts``) joins the
    history; ``ack`` and ``bury`` (any state but ``retrying``) mark a stored
    result when the outcome carries one, and a ``dead`` record keeps the bury
    reason. The backend stores ``outcome.result`` itself.
    """
    number = attempt if attempt is not None else max(record.attempts, 1)
    final = state is not CallState.RETRYING
    return replace(
        with_attempt(record, number, outcome, now),
        state=state,
        attempts=max(record.attempts, number),
        started_at=outcome.started_at or record.started_at,
        finished_at=(outcome.finished_at or now) if final else None,
        status_code=outcome.status_code,
        error=outcome.error,
        callback_status=outcome.callback_status,
        callback_attempts=outcome.callback_attempts,
        reason=bury_reason(outcome) if state is CallState.DEAD else None,
        has_result=(outcome.result is not None) if final else record.has_result,
    )


def expired_record(record: CallRecord, now: float) -> CallRecord:
    """``record`` once a claim set its call aside for not starting by its ``expire_at``."""
    return replace(record, state=CallState.EXPIRED, reason=EXPIRED, finished_at=now)


def cancelled_record(record: CallRecord, now: float) -> CallRecord:
    """``record`` once its call was cancelled before it ran (it never runs)."""
    return replace(record, state=CallState.CANCELLED, finished_at=now)


def as_of(record: CallRecord, now: float) -> CallRecord:
    """``record`` as it reads at ``now``: a delayed call whose time came is ``queued``."""
    if record.state is CallState.DELAYED and record.not_before <= now:
        return replace(record, state=CallState.QUEUED)
    return record


def replayed_call(call: QueuedCall) -> QueuedCall:
    """The call a replay queues: without its ``expire_at``, else an expired call replayed
    would only be set aside again; the one who replays it wants it run now."""
    return replace(call, expire_at=0.0)


def replayed_record(record: CallRecord) -> CallRecord:
    """``record`` once its dead letter was queued again: its history stays, its result goes."""
    return replace(
        record,
        state=CallState.QUEUED,
        attempts=0,
        finished_at=None,
        reason=None,
        expire_at=0.0,
        has_result=False,
    )


# States a cancel acts on; any other is a ``Conflict`` naming the state.
CANCELLABLE = frozenset({CallState.QUEUED, CallState.DELAYED, CallState.RETRYING})


def cancel_refusal(record: CallRecord) -> str:
    """The ``Conflict`` message of a cancel of a call that has started or finished."""
    return (
        f"call {record.call_id} is {record.state.value}: only a queued, delayed or"
        " retrying call can be cancelled"
    )


def matches(record: CallRecord, where: DeadLetterFilter | None) -> bool:
    """Whether dead letter ``record`` is one ``where`` picks (every field set must match)."""
    if where is None:
        return True
    if where.function is not None and f"{record.function}.{record.namespace}" != where.function:
        return False
    if where.reason is not None and record.reason != where.reason:
        return False
    return where.since is None or (record.finished_at or 0.0) >= where.since


def fair_key(call: QueuedCall) -> str:
    """The function a call takes turns as: ``name.namespace``, or ``CALLBACKS``."""
    return CALLBACKS if call.answer is not None else call.function_ref


def callback_failure(call: QueuedCall, state: CallState) -> str | None:
    """The function whose callback failed for good by settling ``call`` in ``state``, or None.

    A callback delivery that failed is acked with an error (state ``failed``)
    or buried; it carries its call's function and namespace.
    """
    if call.answer is None or state not in (CallState.FAILED, CallState.DEAD):
        return None
    return call.function_ref


def fair_order(candidates: Sequence[tuple[str, int]], limit: int) -> list[int]:
    """The seqs ``claim`` hands out: functions in turn, oldest first within each.

    ``candidates`` are (``fair_key``, seq) pairs of claimable calls, oldest
    first. The function whose oldest call is oldest goes first; each round
    takes one call of every function that has one left, until ``limit``.
    """
    lanes: dict[str, list[int]] = {}
    for key, seq in candidates:
        lanes.setdefault(key, []).append(seq)
    picked: list[int] = []
    depth = 0
    while len(picked) < limit and lanes:
        for key in list(lanes):
            lane = lanes[key]
            if depth >= len(lane):
                del lanes[key]
                continue
            picked.append(lane[depth])
            if len(picked) == limit:
                break
        depth += 1
    return picked


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
        reason=UNDECODABLE,
    )
