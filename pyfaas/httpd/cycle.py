"""The request cycle of a connection: run each handler in turn, write its response.

A mixin of ``connection.HttpProtocol``, which reads; this half writes. A
request's handler runs as a task once the responses before it are written;
its response goes out with the framing of ``wire``; a streamed body is
written as it comes, waiting whenever the transport's buffer is full; after
it the next queued request (or the server's own refusal) has its turn, or
the connection waits idle for the next head.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from collections import deque
from collections.abc import AsyncIterable

from pyfaas.httpd.capacity import ServerState
from pyfaas.httpd.messages import Request, Response, text_response
from pyfaas.httpd.timer import Deadlines
from pyfaas.httpd.wire import NO_BODY, response_head


class Cycle:
    """Handlers and responses; the reading half keeps these attributes up to date."""

    _state: ServerState
    _loop: asyncio.AbstractEventLoop
    _transport: asyncio.Transport | None
    _due: Deadlines
    _queue: deque[tuple[Request, bool] | bytes]  # a refusal ends the queue
    _busy: bool
    _current: Request | None  # the request whose handler runs
    _responding: bool  # its response head is written
    _failed: bool  # parsing has stopped: close after what is queued
    _in_head: bool
    _incoming: Request | None
    _awaiting_continue: bool
    _task: asyncio.Task[None] | None
    _streaming: asyncio.Task[None] | None
    _write_paused: bool
    _drained: asyncio.Event

    def _close(self) -> None:
        raise NotImplementedError

    def _await_head(self) -> None:
        """No request in flight: wait (idle, or in a head begun already) for the next."""
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _start(self, request: Request, keep_alive: bool) -> None:
        self._busy = True
        self._current = request
        self._task = self._loop.create_task(self._cycle(request, keep_alive))
        self._task.add_done_callback(_ignore_result)

    async def _cycle(self, request: Request, keep_alive: bool) -> None:
        try:
            try:
                response = await self._state.handler(request)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                response = text_response(500, "Internal Server Error")
            if not 200 <= response.status <= 999:
                # A 1xx is never a final answer (a second 100 would leave the client waiting).
                print(f"handler answered {request.path} with {response.status}", file=sys.stderr)
                response = text_response(500, "Internal Server Error")
            keep_alive = keep_alive and not self._state.closing
            keep_alive = await self._send(request, response, keep_alive)
        except (Exception, asyncio.CancelledError) as exc:
            # The head is gone already: cutting the connection is all that is left.
            if not isinstance(exc, asyncio.CancelledError):
                traceback.print_exc(file=sys.stderr)
            self._close()
            return
        finally:
            self._current = None
            self._responding = False
            self._streaming = None
            request.body.discard()
            self._state.request_finished()
        self._next(keep_alive)

    def _next(self, keep_alive: bool) -> None:
        if self._transport is None:
            return
        if not keep_alive:
            self._close()
            return
        if self._queue:
            item = self._queue.popleft()
            if isinstance(item, bytes):
                self._write(item)
                self._close()
            else:
                self._start(*item)
            return
        self._busy = False
        if self._state.closing or self._failed:
            self._close()
            return
        self._await_head()

    async def _send(self, request: Request, response: Response, keep_alive: bool) -> bool:
        """Write the response; return whether the connection stays open after it."""
        body = request.body
        body.before_read = None  # too late for a 100
        if self._awaiting_continue and self._incoming is request:
            keep_alive = False  # its client may never send the body: Go closes too
        head_only = request.method == "HEAD" or response.status in NO_BODY
        self._responding = True
        data, chunked = response_head(response, head_only, keep_alive)
        self._write(data)
        if not isinstance(response.body, bytes):
            self._streaming = asyncio.current_task()
            await self._stream(response.body, chunked, head_only)
        return keep_alive

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


def _ignore_result(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        traceback.print_exception(task.exception(), file=sys.stderr)
