"""Record bookkeeping shared by the backends: a new call's record, an outcome's state.

Every backend answers ``record(call_id)`` the same way, so the rules for
turning a worker's ``Outcome`` into a ``CallState`` live here once.
"""

from __future__ import annotations

from dataclasses import replace

from pyfaas.queue.envelope import CallRecord, CallState, Outcome, QueuedCall


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
