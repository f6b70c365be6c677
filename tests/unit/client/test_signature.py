"""A receiver's check of a callback's signature, against signatures the worker itself makes."""

from __future__ import annotations

from email.message import Message

import pytest
from multidict import CIMultiDict

from pyfaas.client import check_callback, verify_callback
from pyfaas.errors import Unauthorized
from pyfaas.worker.callbacks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    answer_call,
    callback_headers,
    sign,
)
from pyfaas.worker.invoke import InvokeResult
from tests.factories import gateway_call

KEY = b"k" * 32
NOW = 1_800_000_000
BODY = b"  _   _ \n | | | |\n"


def _signed(
    body: bytes = BODY, call_id: str = "c1", stamp: int = NOW, key: bytes = KEY
) -> dict[str, str]:
    return {
        "X-Call-Id": call_id,
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(body, key, str(stamp), call_id),
    }


def test_the_workers_signature_holds() -> None:
    assert verify_callback(_signed(), BODY, KEY, now=NOW)
    assert verify_callback(_signed(), BODY, KEY.decode(), now=NOW + 299)
    check_callback(_signed(), BODY, KEY, now=NOW)


def test_the_headers_the_worker_posts_hold_and_name_the_call() -> None:
    call = gateway_call("figlet")
    answer = InvokeResult(200, [("Content-Type", "text/plain")], BODY, seconds=0.5)
    delivery = answer_call(call, answer, 0.5, "http://127.0.0.1:9/cb")
    posted = callback_headers(delivery, KEY)
    assert posted["X-Call-Id"] == call.call_id
    assert verify_callback(posted, delivery.body, KEY)
    assert not verify_callback(posted, delivery.body + b"x", KEY)
    assert not verify_callback(callback_headers(delivery, None), delivery.body, KEY)


def test_header_names_are_matched_whatever_their_case() -> None:
    lowered = {k.lower(): v for k, v in _signed().items()}
    assert verify_callback(lowered, BODY, KEY, now=NOW)
    assert verify_callback(CIMultiDict(_signed()), BODY, KEY, now=NOW)
    message = Message()  # what http.server's handler has as self.headers
    for name, value in _signed().items():
        message[name.upper()] = value
    assert verify_callback(message, BODY, KEY, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "body", "key", "why"),
    [
        (_signed(), BODY + b"!", KEY, "does not match"),
        (_signed(), BODY, b"other key", "does not match"),
        ({**_signed(), "X-Call-Id": "c2"}, BODY, KEY, "does not match"),  # re-labelled
        ({**_signed(), TIMESTAMP_HEADER: str(NOW + 1)}, BODY, KEY, "does not match"),
        (_signed(stamp=NOW - 301), BODY, KEY, "301s old, more than 300s"),
        (_signed(stamp=NOW + 3600), BODY, KEY, "more than 300s"),  # from the future
        ({"X-Call-Id": "c1"}, BODY, KEY, "not signed"),
        ({k: v for k, v in _signed().items() if k != "X-Call-Id"}, BODY, KEY, "no X-Call-Id"),
        ({**_signed(), TIMESTAMP_HEADER: "soon"}, BODY, KEY, "not Unix seconds"),
        ({**_signed(), SIGNATURE_HEADER: "sha256=ünï"}, BODY, KEY, "does not match"),
    ],
)
def test_what_is_refused_and_why(
    headers: dict[str, str], body: bytes, key: bytes, why: str
) -> None:
    assert not verify_callback(headers, body, key, now=NOW)
    with pytest.raises(Unauthorized, match=why):
        check_callback(headers, body, key, now=NOW)


def test_max_age_is_the_receivers_choice() -> None:
    old = _signed(stamp=NOW - 3000)
    assert not verify_callback(old, BODY, KEY, now=NOW)
    assert verify_callback(old, BODY, KEY, max_age=3600, now=NOW)


def test_without_now_the_clock_is_used() -> None:
    import time

    fresh = _signed(stamp=int(time.time()))
    assert verify_callback(fresh, BODY, KEY)
    assert not verify_callback(_signed(stamp=NOW - 10**6), BODY, KEY)
