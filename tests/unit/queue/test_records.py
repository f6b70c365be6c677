"""How a worker's outcome becomes a call's final state; what a stored message holds."""

from __future__ import annotations

import pytest

from pyfaas.queue import _json
from pyfaas.queue._records import (
    UNDECODABLE,
    claimed_id,
    decode_call,
    final_state,
    undecodable_record,
)
from pyfaas.queue.envelope import CallState, Outcome
from tests.factories import queued_call


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


def _payload(**changes: object) -> bytes:
    fields = _json.loads(queued_call("c1", body=b"hi").encode())
    fields.update(changes)
    return _json.dumps(fields)


def test_decode_call_reads_what_put_stores() -> None:
    call = queued_call("c1", path="/a", body=b"\x00hi", submitted_at=2.5)
    assert decode_call(call.encode()) == call
    assert decode_call(call.encode().decode()) == call


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\x00 not json",
        b"[1, 2]",
        b'"a string"',
        b'{"id": "c1"}',
        _payload(id=7),
        _payload(id=""),
        _payload(fn=None),
        _payload(h=[["only-a-name"]]),
        _payload(b=5),
        _payload(t="soon"),
        _payload(cb=3),
    ],
)
def test_decode_call_refuses_what_holds_no_call(data: bytes) -> None:
    assert decode_call(data) is None


def test_claimed_id_is_a_usable_id_or_none() -> None:
    assert claimed_id(b'{"id": "c7", "fn": 1}') == "c7"
    assert claimed_id(b'{"id": 7}') is None
    assert claimed_id(b'{"id": ""}') is None
    assert claimed_id(b"[1]") is None
    assert claimed_id(b"\xff") is None
    assert claimed_id(None) is None


def test_an_undecodable_record_is_dead_and_says_why() -> None:
    record = undecodable_record("seq-4", attempts=2, submitted_at=3.0)
    assert (record.state, record.error, record.attempts) == (CallState.DEAD, UNDECODABLE, 2)
    assert record.finished_at is not None
