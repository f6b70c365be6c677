"""Callback URL checks, signing and the headers sent to the receiver."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pyfaas.queue.envelope import QueuedCall
from pyfaas.worker.callbacks import callback_headers, check_url, sign
from pyfaas.worker.invoke import InvokeResult, forwarded_headers


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
    call = QueuedCall(call_id="c1", function="fn", namespace="ns", submitted_at=2.5)
    result = InvokeResult(
        status=503,
        headers=[("Connection", "keep-alive"), ("X-Bad", "a\nb"), ("X-Ok", "1")],
        error="refused",
    )
    headers = callback_headers(call, result, 0.25, None)
    assert "Connection" not in headers
    assert "X-Bad" not in headers
    assert headers["X-Ok"] == "1"
    assert headers["X-Function-Status"] == "503"
    assert headers["X-Function-Name"] == "fn.ns"
    assert headers["X-Duration-Seconds"] == "0.250000"
    assert headers["X-Start-Time"] == "2500000000"


def test_forwarded_headers_keep_duplicates_and_drop_hop_by_hop() -> None:
    call = QueuedCall(
        call_id="c1",
        function="fn",
        namespace="ns",
        headers=[("X-A", "1"), ("X-A", "2"), ("Transfer-Encoding", "chunked"), ("Host", "h")],
    )
    headers = forwarded_headers(call)
    assert headers.getall("X-A") == ["1", "2"]
    assert "Transfer-Encoding" not in headers
    assert "Host" not in headers
