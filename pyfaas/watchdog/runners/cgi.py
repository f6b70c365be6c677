"""The classic watchdog's CGI environment: request headers as ``Http_*`` variables.

Names follow Go: the header name in canonical case (``x-call-id`` ->
``X-Call-Id``) with ``-`` turned into ``_``; the first value wins. Go's server
moves ``Host`` and ``Transfer-Encoding`` out of the header map, so they come
only from their own variables, and ``Http_Content_Length`` is the parsed
content length (-1 when unknown, as with a chunked body).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from urllib.parse import unquote

from pyfaas.watchdog.messages import Request

_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MOVED = {"host", "transfer-encoding"}


def canonical_header(name: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: names with non-token bytes are kept as they are."""
    if not name or any(ch not in _TOKEN for ch in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def content_length(request: Request, body_size: int) -> int:
    if request.body.content_length is None:
        return -1 if request.header("transfer-encoding") else body_size
    return request.body.content_length


def header_map(request: Request) -> dict[str, list[str]]:
    """Request headers grouped under their canonical names, as Go's ``http.Header``."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.lower() not in _MOVED:
            headers.setdefault(canonical_header(name), []).append(value)
    return headers


def cgi_env(request: Request, base: Mapping[str, str], body_size: int) -> dict[str, str]:
    """The forked process's environment: ``base`` plus the request as ``Http_*``."""
    return {**base, **cgi_vars(request, body_size)}


def cgi_vars(request: Request, body_size: int) -> dict[str, str]:
    """The request as ``Http_*`` variables, added to the watchdog's own environment."""
    env: dict[str, str] = {}
    for name, values in header_map(request).items():
        env["Http_" + name.replace("-", "_")] = values[0]
    env["Http_Method"] = request.method
    length = str(content_length(request, body_size))
    env["Http_ContentLength"] = length
    env["Http_Content_Length"] = length
    encoding = request.header("transfer-encoding")
    if encoding:
        env["Http_Transfer_Encoding"] = encoding
    if request.query:
        env["Http_Query"] = request.query
    path = unquote(request.path)
    if path:
        env["Http_Path"] = path
    env["Http_Host"] = request.header("host") or ""
    return env


def marshal(request: Request, body: bytes) -> bytes:
    """``marshal_request``: the request as JSON on stdin, the body base64-encoded."""
    document = {
        "header": header_map(request),
        "body": {"raw": base64.b64encode(body).decode("ascii")},
    }
    return json.dumps(document, separators=(",", ":")).encode()
