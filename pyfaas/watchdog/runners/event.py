"""The python3-http template's ``event`` and ``context``, and its response rules.

``event.body`` is bytes, ``event.headers`` a case-insensitive mapping,
``event.query`` the first value of each query parameter, ``event.path`` the
decoded path. A handler returns a dict ``{"statusCode", "body", "headers"}``
(a dict or list body becomes JSON), a str or bytes (200), or None (200, empty).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDict, CIMultiDictProxy

from pyfaas.httpd.messages import Request, Response

_DEFAULT_TYPE = "text/html; charset=utf-8"  # what the template's Flask app answers with


@dataclass(slots=True)
class Event:
    body: bytes
    headers: CIMultiDictProxy[str]
    method: str
    query: dict[str, str]
    path: str

    @classmethod
    def from_request(cls, request: Request, body: bytes) -> Event:
        query: dict[str, str] = {}
        for key, value in parse_qsl(request.query, keep_blank_values=True):
            query.setdefault(key, value)
        return cls(
            body=body,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            method=request.method,
            query=query,
            path=unquote(request.path),
        )


@dataclass(slots=True)
class Context:
    hostname: str


def shape(result: Any) -> Response:
    """A handler's return value as a response."""
    if result is None:
        return Response(200, [("Content-Type", _DEFAULT_TYPE)], b"")
    if isinstance(result, dict):
        return _from_dict(result)
    return Response(200, [("Content-Type", _DEFAULT_TYPE)], _encode(result))


def _from_dict(result: dict[str, Any]) -> Response:
    status = int(result.get("statusCode", 200))
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    body = result.get("body", "")
    has_type = any(k.lower() == "content-type" for k, _ in headers)
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
        if not has_type:
            headers.append(("Content-Type", "application/json"))
        return Response(status, headers, payload)
    if not has_type:
        headers.append(("Content-Type", _DEFAULT_TYPE))
    return Response(status, headers, _encode(body))


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    return str(body).encode()
