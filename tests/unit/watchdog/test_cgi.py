"""The classic watchdog's CGI environment, built from a request."""

from __future__ import annotations

import base64
import json

from pyfaas.httpd.messages import Body, Request
from pyfaas.watchdog.runners.cgi import CgiVars, canonical_header, cgi_vars, marshal


def make_request(
    headers: list[tuple[str, str]],
    *,
    path: str = "/",
    query: str = "",
    method: str = "POST",
    body: Body | None = None,
) -> Request:
    return Request(method, path, query, headers, body or Body.from_bytes(b""))


def test_canonical_header_follows_go() -> None:
    assert canonical_header("x-call-id") == "X-Call-Id"
    assert canonical_header("USER-AGENT") == "User-Agent"
    assert canonical_header("x_custom") == "X_custom"
    assert canonical_header("bad header") == "bad header"


def test_headers_method_query_path_host() -> None:
    request = make_request(
        [
            ("Host", "fn:8080"),
            ("x-call-id", "abc"),
            ("X-CALL-ID", "second"),
            ("Content-Length", "5"),
        ],
        path="/a%20b/c",
        query="a=1&b=2",
        method="GET",
        body=Body.from_bytes(b"hello"),
    )
    env = {"PATH": "/bin", "fprocess": "env", **cgi_vars(request, 5)}
    assert env["PATH"] == "/bin"
    assert env["fprocess"] == "env"
    assert env["Http_X_Call_Id"] == "abc"  # the first value wins
    assert env["Http_Method"] == "GET"
    assert env["Http_Query"] == "a=1&b=2"
    assert env["Http_Path"] == "/a b/c"
    assert env["Http_Host"] == "fn:8080"
    assert env["Http_ContentLength"] == "5"
    assert env["Http_Content_Length"] == "5"
    assert "Http_Transfer_Encoding" not in env


def test_empty_query_is_left_out_and_chunked_length_is_minus_one() -> None:
    body = Body(None)
    body.feed_eof()
    request = make_request([("Transfer-Encoding", "chunked")], body=body)
    env = cgi_vars(request, 0)
    assert "Http_Query" not in env
    assert env["Http_ContentLength"] == "-1"
    assert env["Http_Transfer_Encoding"] == "chunked"


def test_marshal_request_carries_headers_and_base64_body() -> None:
    request = make_request([("Content-Type", "text/plain"), ("X-A", "1"), ("x-a", "2")])
    document = json.loads(marshal(request, b"\x00hi"))
    assert document["header"] == {"Content-Type": ["text/plain"], "X-A": ["1", "2"]}
    assert base64.b64decode(document["body"]["raw"]) == b"\x00hi"


async def test_body_reads_fed_chunks_in_order() -> None:
    body = Body(None)
    body.feed(b"ab")
    body.feed(b"cd")
    body.feed_eof()
    assert await body.read() == b"abcd"


def test_cached_names_give_the_same_environment_on_every_call() -> None:
    build = CgiVars(limit=2)
    headers = [("x-call-id", "1"), ("User-Agent", "ua"), ("X-Extra", "e"), ("HOST", "h:1")]
    first = build(make_request(headers), 0)
    second = build(make_request(headers), 0)
    assert first == second == cgi_vars(make_request(headers), 0)
    assert first["Http_X_Call_Id"] == "1"
    assert first["Http_X_Extra"] == "e"
    assert first["Http_Host"] == "h:1"


def test_no_host_header_is_an_empty_host_and_empty_encoding_is_left_out() -> None:
    env = cgi_vars(make_request([("Transfer-Encoding", "")]), 3)
    assert env["Http_Host"] == ""
    assert "Http_Transfer_Encoding" not in env
    assert env["Http_ContentLength"] == "0"
