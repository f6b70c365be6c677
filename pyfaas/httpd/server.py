"""A small HTTP/1.1 server on asyncio and httptools, for the hot paths.

Each connection is an ``asyncio.Protocol``; httptools parses, the handler
(``Request -> Response``) runs as a task per request, and pipelined requests
wait their turn. Keep-alive, chunked bodies both ways, read and write flow
control, an idle time-out and a graceful close are all it does: neither the
watchdog nor the gateway's invocation routes need routing, cookies or
multipart. It was chosen over aiohttp's server by measurement
(docs/performance.md).
"""

from __future__ import annotations

import asyncio
import socket
import sys
import traceback
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable
from http import HTTPStatus
from typing import cast

import httptools

from pyfaas.httpd.messages import Body, Request, Response

Handler = Callable[[Request], Awaitable[Response]]

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
# Hop-by-hop framing is the server's business, never the handler's.
_FRAMING = {"content-length", "transfer-encoding", "connection", "keep-alive"}
_NO_BODY = {204, 304}


class ServerState:
    """What the listening server knows about all its connections."""

    def __init__(self, handler: Handler, idle_timeout: float) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.connections: set[HttpProtocol] = set()
        self.active = 0  # requests between headers received and response sent
        self.closing = False
        self._idle: asyncio.Event | None = None

    def request_started(self) -> None:
        self.active += 1

    def request_finished(self) -> None:
        self.active -= 1
        if self.active == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, grace: float) -> bool:
        """Close idle connections, wait for in-flight requests; True if all finished."""
        self.closing = True
        for conn in list(self.connections):
            conn.close_if_idle()
        if self.active:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                return False
        return True

    def abort_all(self) -> None:
        for conn in list(self.connections):
            conn.transport_close()


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body: Body | None = None
        self._queue: deque[tuple[Request, bool]] = deque()
        self._busy = False
        self._idle_handle: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._drained: asyncio.Event = asyncio.Event()
        self._drained.set()
        self._peer = ""
        # The running cycle. The loop holds tasks only weakly, and a cycle that
        # waits on an asyncio stream (the gateway's upstream hop) is otherwise
        # referenced by nothing but its own stream: the collector would end it.
        self._task: asyncio.Task[None] | None = None
        self._streaming: asyncio.Task[None] | None = None  # a cycle sending a streamed body

    # -- transport events --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        # Headers and body go out in separate writes: without this each
        # keep-alive request can wait ~40 ms on delayed ACKs.
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._peer = f"{peer[0]}:{peer[1]}"
        self._state.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        self._cancel_idle()
        if self._body is not None:
            self._body.feed_eof("client disconnected")
        self._transport = None
        self._drained.set()
        if self._streaming is not None:
            # Nobody reads the rest: stop the source (a followed log never ends).
            self._streaming.cancel()

    def data_received(self, data: bytes) -> None:
        self._cancel_idle()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(b"501 Not Implemented")
        except httptools.HttpParserError:
            self._reject(b"400 Bad Request")

    def pause_writing(self) -> None:
        self._write_paused = True
        self._drained.clear()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._drained.set()

    # -- parser callbacks --------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        parsed = httptools.parse_url(self._url)
        length = self._content_length()
        transport = self._transport
        assert transport is not None
        self._body = Body(length, transport.pause_reading, transport.resume_reading)
        request = Request(
            method=self._parser.get_method().decode("ascii"),
            path=(parsed.path or b"/").decode("latin-1"),
            query=(parsed.query or b"").decode("latin-1"),
            headers=self._headers,
            body=self._body,
            http_version=self._parser.get_http_version(),
            peer=self._peer,
        )
        keep_alive = bool(self._parser.should_keep_alive())
        if self._expects_continue():
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._state.request_started()
        if self._busy:
            self._queue.append((request, keep_alive))
        else:
            self._start(request, keep_alive)

    def on_body(self, body: bytes) -> None:
        if self._body is not None:
            self._body.feed(body)

    def on_message_complete(self) -> None:
        if self._body is not None:
            self._body.feed_eof()
            self._body = None

    def _expects_continue(self) -> bool:
        return any(
            name.lower() == "expect" and value.lower() == "100-continue"
            for name, value in self._headers
        )

    def _content_length(self) -> int | None:
        for name, value in self._headers:
            low = name.lower()
            if low == "transfer-encoding":
                return None
            if low == "content-length":
                return int(value) if value.isdigit() else None
        return 0

    # -- request cycle -----------------------------------------------------

    def _start(self, request: Request, keep_alive: bool) -> None:
        self._busy = True
        self._task = self._loop.create_task(self._cycle(request, keep_alive))
        self._task.add_done_callback(_ignore_result)

    async def _cycle(self, request: Request, keep_alive: bool) -> None:
        try:
            try:
                response = await self._state.handler(request)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                response = Response(
                    500, [("Content-Type", "text/plain")], b"Internal Server Error\n"
                )
            keep_alive = keep_alive and not self._state.closing
            await self._send(request, response, keep_alive)
        except (Exception, asyncio.CancelledError) as exc:
            # The head is gone already: cutting the connection is all that is left.
            if not isinstance(exc, asyncio.CancelledError):
                traceback.print_exc(file=sys.stderr)
            self.transport_close()
            return
        finally:
            self._streaming = None
            request.body.discard()
            self._state.request_finished()
        self._next(keep_alive)

    def _next(self, keep_alive: bool) -> None:
        if self._transport is None:
            return
        if not keep_alive:
            self._transport.close()
            return
        if self._queue:
            self._start(*self._queue.popleft())
            return
        self._busy = False
        if self._state.closing:
            self._transport.close()
        else:
            self._arm_idle()

    async def _send(self, request: Request, response: Response, keep_alive: bool) -> None:
        body = response.body
        head_only = request.method == "HEAD" or response.status in _NO_BODY
        lines = [b"HTTP/1.1 %d %s\r\n" % (response.status, _REASONS.get(response.status, b""))]
        length: str | None = None
        for name, value in response.headers:
            low = name.lower()
            if low == "content-length":
                length = value
            elif low not in _FRAMING:
                lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        if isinstance(body, bytes):
            length = str(len(body))
        chunked = length is None and not head_only
        if length is not None and response.status not in _NO_BODY:
            lines.append(f"Content-Length: {length}\r\n".encode())
        if chunked:
            lines.append(b"Transfer-Encoding: chunked\r\n")
        if not keep_alive:
            lines.append(b"Connection: close\r\n")
        lines.append(b"\r\n")
        if isinstance(body, bytes):
            if not head_only:
                lines.append(body)
            self._write(b"".join(lines))
            return
        self._write(b"".join(lines))
        self._streaming = asyncio.current_task()
        await self._stream(body, chunked, head_only)

    async def _stream(self, body: AsyncIterable[bytes], chunked: bool, head_only: bool) -> None:
        try:
            async for chunk in body:
                if head_only or not chunk:
                    continue
                self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                if self._write_paused:
                    await self._drained.wait()
        finally:
            # A generator source cleans up now (its connection, its file), not when collected.
            close = getattr(body, "aclose", None)
            if close is not None:
                await close()
        if chunked:
            self._write(b"0\r\n\r\n")

    # -- helpers -----------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _reject(self, status: bytes) -> None:
        self._write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        self.transport_close()

    def _arm_idle(self) -> None:
        if self._state.idle_timeout > 0:
            self._idle_handle = self._loop.call_later(self._state.idle_timeout, self.close_if_idle)

    def _cancel_idle(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None

    def close_if_idle(self) -> None:
        if not self._busy:
            self.transport_close()

    def transport_close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _ignore_result(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        traceback.print_exception(task.exception(), file=sys.stderr)


async def serve(state: ServerState, sock: socket.socket) -> asyncio.Server:
    """Start serving ``state.handler`` on an already-listening socket."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: HttpProtocol(state), sock=sock)


BACKLOG = 1024


def listening_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on ``host:port`` (port 0: any free one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


class Listener:
    """The httptools server as a main loop drives it (the watchdog's, the gateway's front)."""

    def __init__(self, handler: Handler, idle_timeout: float) -> None:
        self._state = ServerState(handler, idle_timeout)
        self._server: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        self._server = await serve(self._state, sock)

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    async def drain(self, grace: float) -> bool:
        return await self._state.drain(grace)

    def abort(self) -> None:
        self._state.abort_all()
