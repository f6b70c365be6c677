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
from urllib.parse import unquote

from pyfaas.httpd.messages import Request

_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MOVED = {"host", "transfer-encoding"}


def canonical_header(name: str) -> str:
    """Go's ``CanonicalMIMEHeaderKey``: names with non-token bytes are kept as they are."""
    if not name or any(ch not in _TOKEN for ch in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def header_map(request: Request) -> dict[str, list[str]]:
    """Request headers grouped under their canonical names, as Go's ``http.Header``."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.lower() not in _MOVED:
            headers.setdefault(canonical_header(name), []).append(value)
    return headers


def cgi_vars(request: Request, body_size: int) -> dict[str, str]:
    """The request as ``Http_*`` variables, added to the watchdog's own environment."""
    return CgiVars()(request, body_size)


class CgiVars:
    """``cgi_vars`` with each distinct header name turned into a variable name once.

    A replica sees the same few header names on every call; canonicalising
    them is most of the per-call work of building the environment.
    """

    def __init__(self, limit: int = 1024) -> None:
        self._keys: dict[str, str] = {}
        self._limit = limit  # names past this are computed every time, not kept

    def __call__(self, request: Request, body_size: int) -> dict[str, str]:
        env: dict[str, str] = {}
        keys = self._keys
        for name, value in request.headers:
            key = keys.get(name) or self._key(name)
            # Go's http.Header keeps every value; the first is the one used.
            if key not in env:
                env[key] = value
        # Go takes Host and Transfer-Encoding out of the header map; both are
        # set from the request itself, under the names the map would give.
        encoding = env.pop("Http_Transfer_Encoding", "")
        if encoding:
            env["Http_Transfer_Encoding"] = encoding
        env["Http_Host"] = env.get("Http_Host", "")
        env["Http_Method"] = request.method
        declared = request.body.content_length
        length = str(declared if declared is not None else -1 if encoding else body_size)
        env["Http_ContentLength"] = length
        env["Http_Content_Length"] = length
        if request.query:
            env["Http_Query"] = request.query
        path = unquote(request.path)
        if path:
            env["Http_Path"] = path
        return env

    def _key(self, name: str) -> str:
        key = "Http_" + canonical_header(name).replace("-", "_")
        if len(self._keys) < self._limit:
            self._keys[name] = key
        return key


def marshal(request: Request, body: bytes) -> bytes:
    """``marshal_request``: the request as JSON on stdin, the body base64-encoded."""
    document = {
        "header": header_map(request),
        "body": {"raw": base64.b64encode(body).decode("ascii")},
    }
    return json.dumps(document, separators=(",", ":")).encode()
