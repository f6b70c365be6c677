"""The shared steering rules every backend applies: fair order, conflicts, history, states."""

from __future__ import annotations

from typing import Any

import pytest

from pyfaas.queue._records import (
    as_of,
    conflicts,
    fair_key,
    fair_order,
    is_expired,
    new_record,
    settled,
)
from pyfaas.queue.envelope import Answer, CallState, Outcome, QueuedCall


def _call(**fields: Any) -> QueuedCall:
    return QueuedCall("c1", "f", "ns", **fields)


@pytest.mark.parametrize(
    ("candidates", "limit", "picked"),
    [
        ([], 3, []),
        ([("f", 1), ("f", 2)], 0, []),
        ([("f", 1), ("f", 2), ("f", 3)], 2, [1, 2]),
        ([("f", 1), ("f", 2), ("f", 3), ("g", 4)], 2, [1, 4]),
        ([("f", 1), ("g", 2), ("f", 3), ("h", 4), ("f", 5)], 10, [1, 2, 4, 3, 5]),
        ([("g", 1), ("f", 2), ("f", 3), ("g", 4)], 3, [1, 2, 4]),
    ],
)
def test_fair_order_takes_functions_in_turn(
    candidates: list[tuple[str, int]], limit: int, picked: list[int]
) -> None:
    assert fair_order(candidates, limit) == picked


def test_callback_deliveries_take_turns_as_one_function() -> None:
    answer = Answer("c0", 200, 0.1, "1")
    assert fair_key(_call()) == "f.ns"
    assert fair_key(_call(answer=answer)) == "callbacks"


@pytest.mark.parametrize(
    ("stored", "offered", "conflict"),
    [("a", "a", False), ("a", "b", True), ("", "b", False), ("a", "", False), ("", "", False)],
)
def test_only_two_different_fingerprints_conflict(
    stored: str, offered: str, conflict: bool
) -> None:
    assert conflicts(stored, offered) is conflict


def test_a_call_ahead_of_its_time_is_delayed_until_then() -> None:
    record = new_record(_call(not_before=100.0, expire_at=200.0, fingerprint="fp"), now=50.0)
    assert (record.state, record.not_before, record.expire_at, record.fingerprint) == (
        CallState.DELAYED,
        100.0,
        200.0,
        "fp",
    )
    assert as_of(record, 99.0).state is CallState.DELAYED
    assert as_of(record, 100.0).state is CallState.QUEUED
    assert new_record(_call(not_before=100.0), now=150.0).state is CallState.QUEUED


def test_only_a_call_never_started_expires() -> None:
    call = _call(expire_at=100.0)
    assert is_expired(call, 0, 100.0)
    assert not is_expired(call, 0, 99.0)
    assert not is_expired(call, 1, 150.0)
    assert not is_expired(_call(), 0, 150.0)


def test_settles_append_the_history_once_per_attempt() -> None:
    record = new_record(_call(), now=0.0)
    failed = Outcome(status_code=503, error="busy", started_at=1.0, finished_at=2.0)
    record = settled(record, CallState.RETRYING, failed, 3.0, attempt=1)
    record = settled(record, CallState.RETRYING, failed, 3.0, attempt=1)  # written again
    assert [(a.attempt, a.status_code, a.error) for a in record.history] == [(1, 503, "busy")]
    assert (record.finished_at, record.reason) == (None, None)
    record = settled(record, CallState.DEAD, Outcome(status_code=500), 9.0, attempt=2)
    assert [(a.attempt, a.finished_at) for a in record.history] == [(1, 2.0), (2, 9.0)]
    assert (record.reason, record.attempts, record.finished_at) == ("retries exhausted", 2, 9.0)
