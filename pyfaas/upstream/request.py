"""A request as bytes on a connection: its head, and a body whole or streamed.

A body given as bytes (or none) goes out with its head in one write, framed
by ``Content-Length``; a body given as an async iterable is sent chunked,
each chunk waiting while the transport's buffer is full.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from pyfaas.upstream.connection import Connection


def request_head(
    method: str, target: str, headers: list[tuple[str, str]], framing: str | None
) -> bytes:
    """The request head: request line, ``headers``, then the line framing the body, if any."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    if framing is not None:
        lines.append(framing)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def whole_framing(method: str, body: bytes | None) -> str | None:
    """The framing of a whole body (or none)."""
    if body is not None:
        return f"Content-Length: {len(body)}"
    return "Content-Length: 0" if method in ("POST", "PUT", "PATCH") else None


async def send_streamed(
    conn: Connection,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: AsyncIterable[bytes],
) -> None:
    conn.write(request_head(method, target, headers, "Transfer-Encoding: chunked"))
    async for chunk in body:
        if chunk:
            conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            await conn.drain()
    conn.write(b"0\r\n\r\n")
    await conn.drain()
