"""A call's status on the wire: the queue's record written, the client's reading of it."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from pyfaas.client._models import call_status_from_wire
from pyfaas.errors import PyfaasError
from pyfaas.queue.envelope import Attempt, CallRecord
from pyfaas.queue.envelope import CallState as QueueState
from pyfaas.types import CallState, CallStatus

# Its own literal, not a factory: WIRE below is these values written out.
RECORD = CallRecord(
    call_id="c1",
    function="figlet",
    namespace="openfaas-fn",
    state=QueueState.SUCCEEDED,
    attempts=2,
    submitted_at=1700000000.25,
    started_at=1700000001.5,
    finished_at=1700000002.0,
    status_code=200,
    error=None,
    callback_url="http://127.0.0.1:9/cb",
    callback_status=204,
    callback_attempts=1,
)

# What GET /system/calls/{id} has always answered for RECORD, byte for byte.
WIRE = (
    '{"callId":"c1","function":"figlet","namespace":"openfaas-fn","state":"succeeded",'
    '"attempts":2,"submittedAt":1700000000.25,"startedAt":1700000001.5,'
    '"finishedAt":1700000002.0,"statusCode":200,"error":null,'
    '"callbackUrl":"http://127.0.0.1:9/cb","callbackStatus":204,"callbackAttempts":1}'
)


def test_the_queue_record_is_written_as_it_always_was() -> None:
    assert json.dumps(RECORD.to_wire(), separators=(",", ":")) == WIRE


# A steered dead letter: the fields written only when they say something, in
# the order GET /system/calls/{id} has always written them; the fingerprint
# is the queue's own and never written.
STEERED = CallRecord(
    call_id="c4",
    function="figlet",
    namespace="openfaas-fn",
    state=QueueState.DEAD,
    attempts=1,
    submitted_at=10.0,
    finished_at=12.0,
    status_code=500,
    not_before=11.0,
    expire_at=20.0,
    reason="retries exhausted",
    history=[Attempt(1, 11.5, 12.0, 500, "boom")],
    has_result=True,
    fingerprint="f" * 32,
)
STEERED_WIRE = (
    '{"callId":"c4","function":"figlet","namespace":"openfaas-fn","state":"dead",'
    '"attempts":1,"submittedAt":10.0,"startedAt":null,"finishedAt":12.0,"statusCode":500,'
    '"error":null,"callbackUrl":null,"callbackStatus":null,"callbackAttempts":0,'
    '"notBefore":11.0,"expireAt":20.0,"reason":"retries exhausted",'
    '"history":[{"attempt":1,"startedAt":11.5,"finishedAt":12.0,"statusCode":500,'
    '"error":"boom"}],"hasResult":true}'
)


def test_a_steered_record_is_written_as_it_always_was() -> None:
    assert json.dumps(STEERED.to_wire(), separators=(",", ":")) == STEERED_WIRE
    status = call_status_from_wire(json.loads(STEERED_WIRE))
    assert status == STEERED.to_status()


def test_the_record_adds_only_the_queues_own_fields_to_the_status() -> None:
    """One definition of a call's status: the record's other fields are the wire model's."""
    own = {f.name for f in fields(CallRecord)} - {f.name for f in fields(CallStatus)}
    assert own == {"fingerprint"}
    assert isinstance(STEERED, CallStatus)


def test_the_client_reads_back_what_the_gateway_wrote() -> None:
    status = call_status_from_wire(json.loads(WIRE))
    assert status == RECORD.to_status()
    assert status.state is CallState.SUCCEEDED
    assert json.dumps(status.to_wire(), separators=(",", ":")) == WIRE


@pytest.mark.parametrize("state", list(QueueState))
def test_every_queue_state_has_its_wire_name(state: QueueState) -> None:
    record = CallRecord("c2", "fn", "ns", state)
    status = CallStatus.from_wire(record.to_wire())
    assert status.state.value == state.value
    assert {s.value for s in CallState} == {s.value for s in QueueState}


def test_a_record_written_before_counts_were_kept_reads_as_zero_counts() -> None:
    status = call_status_from_wire(
        {"callId": "c3", "function": "f", "namespace": "n", "state": "queued"}
    )
    assert (status.attempts, status.callback_attempts, status.started_at) == (0, 0, None)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"function": "f", "namespace": "n", "state": "queued"}, "callId"),
        ({"callId": "c", "function": "f", "namespace": "n", "state": "lost"}, "lost"),
        ({"callId": "c", "function": "f", "namespace": "n", "state": "dead", "attempts": "x"}, "x"),
    ],
)
def test_a_malformed_record_is_one_error(data: dict[str, object], names: str) -> None:
    with pytest.raises(PyfaasError, match="malformed call record") as caught:
        call_status_from_wire(data)
    assert names in str(caught.value)
