"""The NATS queue's in-place settle of a first record answers as the shared rule does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pyfaas.queue._records import new_record, settled
from pyfaas.queue.backends._nats_claims import settled_fresh
from pyfaas.queue.envelope import CallState, Outcome, StoredResult
from tests.factories import queued_call

OUTCOMES = [
    Outcome(status_code=200, started_at=10.0, finished_at=11.0),
    Outcome(status_code=503, error="unavailable"),
    Outcome(status_code=500, reason="not retryable: 500", callback_status=200, callback_attempts=2),
    Outcome(error="gateway unreachable", result=StoredResult(502, [], b"x", size=1)),
]
STATES = [CallState.SUCCEEDED, CallState.FAILED, CallState.RETRYING, CallState.DEAD]


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("attempt", [1, 3])
def test_the_in_place_settle_is_the_shared_rule(
    outcome: Outcome, state: CallState, attempt: int
) -> None:
    first = replace(new_record(queued_call("c1", submitted_at=5.0)), attempts=attempt)
    expected = settled(replace(first), state, outcome, 100.0, attempt)
    assert settled_fresh(replace(first), state, outcome, 100.0, attempt) == expected
