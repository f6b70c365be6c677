"""One client connection of the HTTP server: parse, hand to the handler, write, time out.

httptools parses; each request's handler (``Request -> Response``) runs as a
task, and pipelined requests wait their turn. Keep-alive, chunked bodies both
ways, read and write flow control, ``Expect: 100-continue`` and graceful
close are all it does. The limits are ``limits.Limits`` (what each means is
said there), kept on one timer handle per connection (``timer``).

Refusals: a head over ``max_header_bytes`` gets 431, a target over
``max_request_line_bytes`` 414, an ``Expect`` other than ``100-continue`` 417,
anything httptools cannot parse 400, a late head or a stalled body 408; each
in its turn after the responses before it, then the connection closes. The 100
is sent once, when the handler first reads the body, as Go and Uvicorn do (not
at all if the client sends the body first or the handler answers without
reading it; then the connection closes after the answer). The ``Expect``
header is consumed here: handlers never see it, so none passes it on.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from typing import cast

import httptools

from pyfaas.httpd.capacity import ServerState
from pyfaas.httpd.cycle import Cycle
from pyfaas.httpd.messages import Body, Request
from pyfaas.httpd.timer import Deadlines
from pyfaas.httpd.wire import CONTINUE, framing, refusal

_CLOSE_LINGER = 10.0  # seconds a closing connection may take to flush, when write_timeout is 0


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; the refusal is in ``_refusal``."""


class HttpProtocol(Cycle, asyncio.Protocol):
    """One client connection."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        limits = state.limits
        self._read_timeout = limits.read_timeout
        self._write_timeout = limits.write_timeout
        self._idle_timeout = limits.idle_timeout
        self._max_head = limits.max_header_bytes
        self._max_line = limits.max_request_line_bytes
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._in_head = False  # a head has begun and is not complete
        self._head_size = 0  # bytes of the head seen by the callbacks
        self._head_raw = 0  # bytes received while the head was incomplete
        self._incoming: Request | None = None  # the request whose body is arriving
        self._awaiting_continue = False  # its client waits for a 100 before sending it
        self._reading_paused = False  # by the body's flow control
        self._queue: deque[tuple[Request, bool] | bytes] = deque()  # a refusal ends the queue
        self._busy = False
        self._current: Request | None = None  # the request whose handler runs
        self._responding = False  # its response head is written
        self._failed = False  # parsing has stopped: close after what is queued
        self._refusal: tuple[int, str] = (400, "malformed request")
        self._due = Deadlines(self._loop, self._on_timer)
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
        if sock is not None:
            self._state.pending.pop(sock.fileno(), None)
        self._state.connections.add(self)
        self._state.waiting[self] = None
        if self._read_timeout > 0:
            self._due.head = self._loop.time() + self._read_timeout
            self._due.arm(self._due.head)

    def connection_lost(self, exc: Exception | None) -> None:
        state = self._state
        state.connections.discard(self)
        state.waiting.pop(self, None)
        self._due.cancel()
        if self._incoming is not None:
            self._incoming.body.feed_eof("client disconnected")
            self._incoming = None
        while self._queue:
            if not isinstance(self._queue.popleft(), bytes):
                state.request_finished()  # counted when its head came, never run
        self._transport = None
        self._drained.set()
        if self._streaming is not None:
            # Nobody reads the rest: stop the source (a followed log never ends).
            self._streaming.cancel()

    def data_received(self, data: bytes) -> None:
        if self._failed:
            return
        if self._in_head:
            self._head_raw += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Served as HTTP/1.1; what follows the head is another protocol's.
            self._stop_parsing()
            return
        except httptools.HttpParserCallbackError:
            self._fail(*self._refusal)
            return
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed request: {exc}", self._incoming)
            return
        if self._in_head:
            if self._head_raw < 0:
                # It began in this chunk, which may hold the end of the message before.
                self._head_raw = self._head_size
            if self._head_raw > self._max_head:
                self._fail(431, f"request head larger than {self._max_head} bytes")
        elif self._incoming is not None:
            self._body_progress()

    def eof_received(self) -> bool:
        """The client sends no more: answer what it asked, then close (a half-close)."""
        if self._incoming is not None:
            self._incoming.body.feed_eof("client closed its side mid-body")
            self._incoming = None
        if not self._busy:
            return False  # nothing asked, or half a head: nothing to answer
        if self._streaming is not None:
            return False  # a stream under way (a followed log) ends with its reader
        self._stop_parsing()
        return True

    def pause_writing(self) -> None:
        self._write_paused = True
        self._drained.clear()
        if self._write_timeout > 0:
            self._due.write = self._loop.time() + self._write_timeout
            self._due.arm(self._due.write)

    def resume_writing(self) -> None:
        self._write_paused = False
        self._due.write = 0.0
        self._drained.set()

    # -- parser callbacks --------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._in_head = True
        self._head_size = 0
        self._head_raw = -1  # data_received counts the chunks after this one
        self._due.idle = 0.0
        if not self._due.head and self._read_timeout > 0:
            self._due.head = self._loop.time() + self._read_timeout
            self._due.arm(self._due.head)

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._max_line:
            self._refuse(414, f"request target longer than {self._max_line} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))
        self._head_size += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._due.head = 0.0
        if len(self._url) + self._head_size > self._max_head:
            self._refuse(431, f"request head larger than {self._max_head} bytes")
        try:
            parsed = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            self._refuse(400, "malformed request target")
        length, expect = framing(self._headers)
        body = Body(length, self._pause_body, self._resume_body)
        parser = self._parser
        request = Request(
            method=parser.get_method().decode("ascii"),
            path=(parsed.path or b"/").decode("latin-1"),
            query=(parsed.query or b"").decode("latin-1"),
            headers=self._headers,
            body=body,
            http_version=parser.get_http_version(),
            peer=self._peer,
        )
        keep_alive = bool(parser.should_keep_alive()) and not parser.should_upgrade()
        if expect is not None:
            self._expect(request, expect)
        self._state.waiting.pop(self, None)
        if length != 0:
            self._incoming = request
            self._body_progress()
        self._state.request_started()
        if self._busy:
            self._queue.append((request, keep_alive))
        else:
            self._start(request, keep_alive)

    def on_body(self, body: bytes) -> None:
        incoming = self._incoming
        if incoming is not None:
            self._awaiting_continue = False  # the client sends without waiting
            incoming.body.feed(body)

    def on_message_complete(self) -> None:
        incoming = self._incoming
        if incoming is not None:
            self._incoming = None
            self._awaiting_continue = False
            self._due.body = 0.0
            incoming.body.feed_eof()

    def _expect(self, request: Request, expect: str) -> None:
        if expect.strip().lower() != "100-continue":
            self._refuse(417, f"unsupported expectation: {expect}")
        request.headers = [(k, v) for k, v in request.headers if k.lower() != "expect"]
        if request.http_version != "1.0" and request.body.content_length != 0:
            self._awaiting_continue = True
            request.body.before_read = self._send_continue

    def _refuse(self, status: int, text: str) -> None:
        self._refusal = (status, text)
        raise _Refused(text)

    # -- request body ------------------------------------------------------

    def _body_progress(self) -> None:
        """The body is expected to keep coming: restart its stall clock."""
        if self._read_timeout > 0 and not self._reading_paused and not self._awaiting_continue:
            self._due.body = self._loop.time() + self._read_timeout
            self._due.arm(self._due.body)

    def _send_continue(self, body: Body) -> None:
        incoming = self._incoming
        if incoming is None or incoming.body is not body or not self._awaiting_continue:
            return  # the body is here already, or on its way
        self._awaiting_continue = False
        self._write(CONTINUE)
        self._body_progress()

    def _pause_body(self) -> None:
        self._reading_paused = True
        self._due.body = 0.0  # the wait is the handler's, not the client's
        if self._transport is not None:
            self._transport.pause_reading()

    def _resume_body(self) -> None:
        self._reading_paused = False
        if self._transport is None or self._failed:
            return
        self._transport.resume_reading()
        if self._incoming is not None:
            self._body_progress()

    # -- refusals and closing ------------------------------------------------

    def _fail(self, status: int, text: str, request: Request | None = None) -> None:
        """Stop parsing; answer ``status`` in its turn where it can still be written; close.

        ``request`` is the one whose body failed; without it, a head failed.
        """
        if self._failed:
            return
        self._stop_parsing()
        incoming, self._incoming = self._incoming, None
        if incoming is not None:
            incoming.body.feed_eof(text)
        data = refusal(status, text)
        if request is not None:
            if request is self._current:
                if not self._responding:
                    self._write(data)
                    self._close()
                return  # else the response under way is the connection's last
            last = self._queue[-1] if self._queue else None
            if not isinstance(last, tuple) or last[0] is not request:
                self._close()  # answered already: nothing more to say
                return
            self._queue.pop()
            self._state.request_finished()
        if self._busy:
            self._queue.append(data)
        else:
            self._write(data)
            self._close()

    def _stop_parsing(self) -> None:
        self._failed = True
        self._in_head = False
        self._awaiting_continue = False
        due = self._due
        due.head = due.body = due.idle = 0.0
        self._state.waiting.pop(self, None)
        if self._transport is not None:
            self._transport.pause_reading()

    def shed(self) -> None:
        """Close to make room at the connection cap (no request is in flight here)."""
        self._state.connections.discard(self)
        if self._in_head:
            self._fail(503, "server at its connection limit")
        else:
            self._stop_parsing()
            self._close()

    def _await_head(self) -> None:
        self._state.waiting[self] = None  # a connection to close at the cap, if need be
        if not self._in_head and self._idle_timeout > 0:
            self._due.idle = self._loop.time() + self._idle_timeout
            self._due.arm(self._due.idle)

    def close_if_idle(self) -> None:
        if not self._busy:
            self._close()

    def transport_close(self) -> None:
        self._close()

    def _close(self) -> None:
        transport = self._transport
        if transport is None or self._due.close:
            return
        transport.close()
        # close() waits for the buffer to drain, which a client that reads nothing stops.
        self._due.close = self._loop.time() + (self._write_timeout or _CLOSE_LINGER)
        self._due.arm(self._due.close)

    # -- the timer -----------------------------------------------------------

    def _on_timer(self) -> None:
        transport = self._transport
        if transport is None:
            return
        now = self._due.now()
        if 0 < self._due.write <= now or 0 < self._due.close <= now:
            transport.abort()
            return
        if 0 < self._due.head <= now:
            if self._in_head:
                self._fail(408, f"request head not received within {self._read_timeout:g}s")
            else:
                self._stop_parsing()
                self._close()  # nothing came: nothing to answer
        elif 0 < self._due.body <= now:
            self._fail(408, f"request body stalled for {self._read_timeout:g}s", self._incoming)
        elif 0 < self._due.idle <= now:
            self._due.idle = 0.0
            if not self._busy and not self._in_head:
                self._close()
        self._due.rearm()
