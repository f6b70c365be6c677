"""The frames between the SQLite queue and its writer process."""

from __future__ import annotations

import marshal

from pyfaas.queue import Outcome, StoredResult
from pyfaas.queue.backends import _sqlite_wire as wire


def _frame(op: tuple[object, ...]) -> bytes:
    payload = marshal.dumps(op)
    return wire.LENGTH.pack(len(payload)) + payload


def test_whole_frames_are_taken_and_a_partial_one_is_left_for_the_next_read() -> None:
    first, second = _frame((wire.CLAIM, 10, 30.0)), _frame((wire.REPLAY, "call-1"))
    ops, rest = wire.frames(first + second[:5])
    assert ops == [(wire.CLAIM, 10, 30.0)]
    assert rest == second[:5]
    ops, rest = wire.frames(rest + second[5:])
    assert ops == [(wire.REPLAY, "call-1")]
    assert rest == b""


def test_a_message_answer_is_sized_and_cut_at_a_thousand_bytes() -> None:
    answer = wire.failed("x" * 5000)
    assert answer[:1] == wire.FAILED
    (size,) = wire.MESSAGE.unpack_from(answer, 1)
    assert size == 1000
    assert answer[1 + wire.MESSAGE.size :] == b"x" * 1000


def test_an_outcome_travels_as_the_fields_outcome_takes() -> None:
    outcome = Outcome(status_code=200, error=None, started_at=1.0, finished_at=2.0)
    assert wire.outcome_of(wire.outcome_fields(outcome)) == outcome


def test_an_outcome_with_a_result_and_a_reason_survives_marshal() -> None:
    result = StoredResult(502, [("Content-Type", "text/plain"), ("X-A", "é")], b"\0\xff", True, 9)
    outcome = Outcome(status_code=502, result=result, reason="not retryable: 502")
    sent = marshal.loads(marshal.dumps(wire.outcome_fields(outcome)))
    assert wire.outcome_of(sent) == outcome


def test_the_writes_whose_answer_promises_a_call_runs_or_not_are_durable() -> None:
    assert frozenset({wire.PUT, wire.REPLAY, wire.CANCEL, wire.REPLAY_WHERE}) == wire.DURABLE
    codes = {wire.PUT, wire.CLAIM, wire.EXTEND, wire.SETTLE, wire.MARK_RUNNING, wire.REPLAY}
    codes |= {wire.CANCEL, wire.REPLAY_WHERE, wire.PURGE, wire.PRUNE}
    assert len(codes) == 10
