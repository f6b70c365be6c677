"""The queue's JSON: calls and records read the same whichever encoder wrote them."""

from __future__ import annotations

import json

import pytest

from pyfaas.queue import _json
from pyfaas.queue.backends import _nats_records
from pyfaas.queue.envelope import QueuedCall
from tests.factories import full_call, full_record


def _call(**changes: object) -> QueuedCall:
    # A float with every digit used, so a lossy float encoding shows.
    return full_call(
        "0192f3a4-5b6c-7d8e-9f00-112233445566", submitted_at=1795511367.816123, **changes
    )


def test_a_call_round_trips() -> None:
    call = _call()
    assert QueuedCall.decode(call.encode()) == call


def test_the_stored_bytes_are_those_of_the_standard_library() -> None:
    # An ASCII call is stored byte for byte as earlier versions stored it.
    call = _call(headers=[("Content-Type", "text/plain")])
    fields = json.loads(call.encode())
    assert call.encode() == json.dumps(fields, separators=(",", ":")).encode()


def test_a_call_stored_by_the_standard_library_reads_the_same() -> None:
    call = _call()
    fields = json.loads(call.encode())
    assert QueuedCall.decode(json.dumps(fields).encode()) == call


def test_a_lone_surrogate_round_trips() -> None:
    # orjson refuses it both ways; the standard library writes and reads it.
    call = _call(path="/caf\udce9", headers=[("X-Raw", "\udcff")])
    data = call.encode()
    assert b"\\udce9" in data
    assert QueuedCall.decode(data) == call


@pytest.mark.parametrize("value", [2**70, -(2**70), {"big": [2**64]}])
def test_integers_past_64_bits_round_trip(value: object) -> None:
    assert _json.loads(_json.dumps(value)) == value


def test_bad_json_raises_what_the_standard_library_raises() -> None:
    with pytest.raises(json.JSONDecodeError):
        _json.loads(b"{not json")


def test_what_is_not_json_is_refused() -> None:
    with pytest.raises(TypeError):
        _json.dumps({"when": object()})


def test_a_nats_record_round_trips() -> None:
    record = full_record()
    assert _nats_records.decode(_nats_records.encode(record)) == record
