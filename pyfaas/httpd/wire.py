"""The bytes of HTTP/1.1: a request's framing, response heads, the server's own refusals.

A handler's response head is built here with the framing the server decides
(``Content-Length`` or chunked, ``Connection: close``); a handler's own framing
headers are dropped. A refusal the server makes itself (a malformed or oversize
head, a timeout, a full server) is a status line and one line of
``text/plain``, as Go's ``http.Error`` writes it, and always closes.
"""

from __future__ import annotations

from http import HTTPStatus

from pyfaas.httpd.messages import Response

REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
# Hop-by-hop framing is the server's business, never the handler's.
_FRAMING = {"content-length", "transfer-encoding", "connection", "keep-alive"}
NO_BODY = {204, 304}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def framing(headers: list[tuple[str, str]]) -> tuple[int | None, str | None]:
    """A request's Content-Length (None: chunked or unknown) and Expect, in one pass."""
    length: int | None = 0
    chunked = False
    expect = None
    for name, value in headers:
        size = len(name)  # lower() only the names that can match
        if size == 14 and name.lower() == "content-length":
            length = int(value) if value.isdigit() else None
        elif size == 17 and name.lower() == "transfer-encoding":
            chunked = True
        elif size == 6 and name.lower() == "expect":
            expect = value
    return (None if chunked else length), expect


def response_head(response: Response, head_only: bool, keep_alive: bool) -> tuple[bytes, bool]:
    """The head for ``response`` (with its body, if that is bytes), and whether it is chunked."""
    status = response.status
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b""))]
    length: str | None = None
    for name, value in response.headers:
        low = name.lower()
        if low == "content-length":
            length = value
        elif low not in _FRAMING:
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    if isinstance(response.body, bytes):
        length = str(len(response.body))
    chunked = length is None and not head_only
    if length is not None and status not in NO_BODY:
        lines.append(f"Content-Length: {length}\r\n".encode())
    if chunked:
        lines.append(b"Transfer-Encoding: chunked\r\n")
    if not keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    if isinstance(response.body, bytes) and not head_only:
        lines.append(response.body)  # one write, one copy
    return b"".join(lines), chunked


def refusal(status: int, text: str) -> bytes:
    """A whole response of the server's own: one line of text, then the connection closes."""
    body = " ".join(text.split()).encode("utf-8", "replace") + b"\n"
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, b"")),
            b"Content-Type: text/plain; charset=utf-8\r\n",
            b"X-Content-Type-Options: nosniff\r\n",
            b"Content-Length: %d\r\n" % len(body),
            b"Connection: close\r\n\r\n",
            body,
        )
    )
