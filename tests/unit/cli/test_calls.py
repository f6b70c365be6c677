"""``pyfaas calls get``: a call's status as the client reads it, in rows."""

from __future__ import annotations

from pyfaas.cli.calls import describe_call
from pyfaas.types import CallState, CallStatus


def test_a_call_with_a_callback_shows_the_callback_rows() -> None:
    # Its own literal: the rows asserted below are these values shown.
    status = CallStatus(
        call_id="c1",
        function="figlet",
        namespace="openfaas-fn",
        state=CallState.SUCCEEDED,
        attempts=1,
        submitted_at=1700000000.0,
        status_code=200,
        callback_url="http://127.0.0.1:9/cb",
        callback_status=204,
        callback_attempts=2,
    )
    rows = describe_call(status).splitlines()
    assert rows[0] == "Call ID:           c1"
    assert "Function:          figlet.openfaas-fn" in rows
    assert "State:             succeeded" in rows
    assert "Submitted:         2023-11-14 22:13:20 UTC" in rows
    assert "Started:           -" in rows
    assert "Callback:          http://127.0.0.1:9/cb -> 204" in rows
    assert rows[-1] == "Callback attempts: 2"


def test_a_failed_call_without_a_callback_shows_its_error_last() -> None:
    status = CallStatus("c2", "fn", "ns", CallState.FAILED, attempts=3, error="exit status 1")
    rows = describe_call(status).splitlines()
    assert rows[-1] == "Error:       exit status 1"
    assert "Status code: -" in rows
