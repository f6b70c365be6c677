"""Call identity: generated call ids are RFC 4122 version 4 UUIDs; a caller's own id is kept."""

from __future__ import annotations

import uuid

from pyfaas.gateway.callid import call_identity, new_call_id


def test_generated_ids_are_distinct_version_4_uuids_in_canonical_form() -> None:
    ids = [new_call_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_a_callers_id_is_kept_and_start_time_is_nanoseconds() -> None:
    call_id, start = call_identity("mine-1")
    assert call_id == "mine-1"
    assert start.isdigit()
    assert len(start) >= 19
    generated, _ = call_identity(None)
    assert uuid.UUID(generated).version == 4
