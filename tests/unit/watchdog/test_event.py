"""The python3-http template's event and its response rules."""

from __future__ import annotations

import json

from pyfaas.httpd.messages import Body, Request
from pyfaas.watchdog.runners.event import Event, shape


def test_event_from_request() -> None:
    request = Request("PUT", "/x%2Fy", "a=1&a=2&b=", [("X-Thing", "v")], Body.from_bytes(b"b"))
    event = Event.from_request(request, b"payload")
    assert event.body == b"payload"
    assert event.method == "PUT"
    assert event.query == {"a": "1", "b": ""}
    assert event.path == "/x/y"
    assert event.headers["x-thing"] == "v"


def test_dict_body_becomes_json() -> None:
    response = shape({"statusCode": 201, "body": {"ok": True}, "headers": {"X-A": "1"}})
    assert response.status == 201
    assert isinstance(response.body, bytes)
    assert json.loads(response.body) == {"ok": True}
    assert ("Content-Type", "application/json") in response.headers
    assert ("X-A", "1") in response.headers


def test_explicit_content_type_is_kept() -> None:
    response = shape({"body": "<b/>", "headers": {"Content-Type": "text/xml"}})
    assert response.status == 200
    assert response.body == b"<b/>"
    assert [v for k, v in response.headers if k.lower() == "content-type"] == ["text/xml"]


def test_plain_returns() -> None:
    assert shape("hi").body == b"hi"
    assert shape(b"\x01").body == b"\x01"
    none = shape(None)
    assert (none.status, none.body) == (200, b"")
    assert shape({"body": [1, 2]}).body == b"[1, 2]"
