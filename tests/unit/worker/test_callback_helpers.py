"""Callback URL checks, signing and the headers sent to the receiver."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

import pytest

from pyfaas.queue.envelope import CallState, QueuedCall, callback_id, with_callback
from pyfaas.worker.callbacks import answer_call, callback_headers, check_url, sign
from pyfaas.worker.invoke import InvokeResult, forwarded_headers
from tests.factories import call_record, queued_call


@pytest.mark.parametrize("url", ["http://example.com/cb", "https://127.0.0.1:9000/x?y=1"])
def test_good_urls(url: str) -> None:
    assert check_url(url) is None


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "http:///nohost", "http://a/\r\nX: 1", "x"]
)
def test_bad_urls(url: str) -> None:
    assert check_url(url) is not None


def test_sign_covers_timestamp_call_id_and_body() -> None:
    expected = hmac.new(b"key", b"1700000000.c1.body", hashlib.sha256).hexdigest()
    assert sign(b"body", b"key", "1700000000", "c1") == f"sha256={expected}"
    # A replayed body under another time or call id no longer verifies.
    assert sign(b"body", b"key", "1700000001", "c1") != f"sha256={expected}"
    assert sign(b"body", b"key", "1700000000", "c2") != f"sha256={expected}"


def test_callback_headers_drop_hop_by_hop_and_unsafe_values() -> None:
    call = queued_call("c1", "fn", "ns", submitted_at=2.5)
    result = InvokeResult(
        status=503,
        headers=[("Connection", "keep-alive"), ("X-Bad", "a\nb"), ("X-Ok", "1")],
        error="refused",
    )
    delivery = answer_call(call, result, 0.25, "http://example.com/cb")
    assert delivery.call_id == callback_id("c1")
    assert QueuedCall.decode(delivery.encode()) == delivery
    headers = callback_headers(delivery, None)
    assert "Connection" not in headers
    assert "X-Bad" not in headers
    assert headers["X-Ok"] == "1"
    assert headers["X-Function-Status"] == "503"
    assert headers["X-Function-Name"] == "fn.ns"
    assert headers["X-Duration-Seconds"] == "0.250000"
    assert headers["X-Start-Time"] == "2500000000"
    assert headers["X-Call-Id"] == "c1"


def test_forwarded_headers_keep_duplicates_and_drop_hop_by_hop() -> None:
    call = queued_call(
        "c1",
        "fn",
        "ns",
        headers=[("X-A", "1"), ("X-A", "2"), ("Transfer-Encoding", "chunked"), ("Host", "h")],
    )
    headers = forwarded_headers(call)
    assert headers.getall("X-A") == ["1", "2"]
    assert "Transfer-Encoding" not in headers
    assert "Host" not in headers


def test_a_call_stored_before_callbacks_were_queued_still_decodes() -> None:
    old = (
        b'{"id":"c1","fn":"fn","ns":"ns","m":"POST","p":"","q":"","h":[["X-A","1"]],'
        b'"b":"aGk=","cb":"http://r/cb","t":1.5}'
    )
    call = QueuedCall.decode(old)
    assert (call.call_id, call.body, call.callback_url, call.answer) == (
        "c1",
        b"hi",
        "http://r/cb",
        None,
    )
    # ... and a call is stored as it was: no key for the answer it does not have.
    assert call.encode() == old


def test_with_callback_folds_the_callback_outcome_into_the_call_record() -> None:
    call = call_record(attempts=1, status_code=200)
    posted = call_record(callback_id("c1"), callback_status=204, callback_attempts=2)
    failed = replace(posted, state=CallState.FAILED, callback_status=None, error="callback failed")
    pending = replace(posted, state=CallState.RETRYING, callback_status=503)
    assert with_callback(call, None) == call
    assert with_callback(call, posted) == replace(call, callback_status=204, callback_attempts=2)
    assert with_callback(call, pending).state is CallState.SUCCEEDED
    joined = with_callback(call, failed)
    assert (joined.state, joined.error, joined.status_code) == (
        CallState.FAILED,
        "callback failed",
        200,
    )
