"""How a worker's outcome becomes a call's final state."""

from __future__ import annotations

import pytest

from pyfaas.queue._records import final_state
from pyfaas.queue.envelope import CallState, Outcome


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (Outcome(status_code=200), CallState.SUCCEEDED),
        (Outcome(status_code=204), CallState.SUCCEEDED),
        (Outcome(), CallState.SUCCEEDED),
        (Outcome(status_code=500), CallState.FAILED),
        (Outcome(status_code=302), CallState.FAILED),
        (Outcome(status_code=200, error="callback refused"), CallState.FAILED),
        (Outcome(error="connection refused"), CallState.FAILED),
    ],
)
def test_final_state(outcome: Outcome, state: CallState) -> None:
    assert final_state(outcome) is state
