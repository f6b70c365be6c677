"""``X-Callback-Url`` values that could carry headers into the callback request."""

from __future__ import annotations

import pytest

from pyfaas.errors import BadRequest
from pyfaas.gateway.async_submit import callback_url


@pytest.mark.parametrize(
    "raw",
    [
        "http://127.0.0.1:1/cb\r\nX-Injected: 1",
        "http://127.0.0.1:1/cb\nX-Injected: 1",
        "http://h\r\n/x",
        "http://h/x\x00",
        "http://h/\x7f",
        "http://h/\tx",
    ],
)
def test_control_characters_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest, match="control characters") as caught:
        callback_url(raw)
    assert caught.value.status == 400


def test_encoded_line_breaks_stay_encoded() -> None:
    url = callback_url("http://h/cb%0d%0aX-Injected:%201")
    assert url is not None
    assert "\r" not in url
    assert "\n" not in url


def test_a_plain_url_passes() -> None:
    assert callback_url(" http://127.0.0.1:9/cb ") == "http://127.0.0.1:9/cb"
    assert callback_url(None) is None
