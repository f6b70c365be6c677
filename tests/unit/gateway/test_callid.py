"""Call identity: generated call ids are time-ordered version 7 UUIDs; a caller's own id is kept."""

from __future__ import annotations

import time
import uuid

from pyfaas.gateway.callid import call_identity, new_call_id


def test_generated_ids_are_distinct_version_7_uuids_in_canonical_form() -> None:
    ids = [new_call_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_generated_ids_start_with_the_time_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = new_call_id()
    time.sleep(0.002)
    second = new_call_id()
    after = time.time_ns() // 1_000_000
    millis = [uuid.UUID(text).int >> 80 for text in (first, second)]
    assert before <= millis[0] < millis[1] <= after
    assert first < second


def test_a_callers_id_is_kept_and_start_time_is_nanoseconds() -> None:
    call_id, start = call_identity("mine-1")
    assert call_id == "mine-1"
    assert start.isdigit()
    assert len(start) >= 19
    generated, _ = call_identity(None)
    assert uuid.UUID(generated).version == 7
