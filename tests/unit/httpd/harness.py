"""A real ``pyfaas.httpd`` server on 127.0.0.1 port 0 in a thread, and a raw-socket client.

The server runs on its own event loop (uvloop, as in production, or asyncio's)
in a thread, so the tests talk to it with plain blocking sockets and exact
bytes. The handlers below are the shapes the watchdog and the gateway use:
read the body whole or in chunks, answer with bytes or a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import select
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvloop

from pyfaas.httpd.limits import Limits
from pyfaas.httpd.messages import Request, Response
from pyfaas.httpd.server import Handler, Listener, listening_socket

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}


async def handle(request: Request) -> Response:
    """The test handler: the path says what to do."""
    query = {k: v[0] for k, v in parse_qs(request.query).items()}
    path = request.path
    if "s" in query:  # any path: wait first, before reading anything
        await asyncio.sleep(float(query["s"]))
    if path == "/noread":
        return Response(200, [("Content-Type", "text/plain")], b"not read\n")
    if path == "/interim":
        return Response(100, [], b"")
    if path == "/headers":
        await request.body.read()
        return Response(200, [], json.dumps(request.headers).encode())
    if path == "/big":
        return Response(200, [], b"b" * int(query.get("size", "1048576")))
    if path == "/stream":
        return Response(200, [], _stream(int(query.get("n", "3")), int(query.get("size", "5"))))
    if path == "/count":
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.body:
            digest.update(chunk)
            size += len(chunk)
        return Response(200, [], f"{size} {digest.hexdigest()}".encode())
    body = await request.body.read()
    headers = [("X-Method", request.method), ("X-Target", request.target)]
    return Response(200, headers, body)


async def _stream(n: int, size: int) -> AsyncIterator[bytes]:
    for i in range(n):
        yield bytes([ord("a") + i % 26]) * size
        await asyncio.sleep(0)


@dataclass
class ServerThread:
    """``with ServerThread(limits) as server:`` serves ``handler`` on ``server.port``."""

    limits: Limits = field(default_factory=Limits)
    handler: Handler = handle
    loop_kind: str = "uvloop"
    logs: list[str] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = LOOPS[self.loop_kind]()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._listener: Listener | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # handed to the test thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        sock = listening_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        self._listener = Listener(self.handler, self.limits, self.logs.append)
        await self._listener.start(sock)
        self._sock = sock

    async def _stop(self) -> None:
        assert self._listener is not None
        self._listener.stop_accepting()
        self._listener.abort()
        self._sock.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.01)  # connection_lost callbacks of the aborted transports

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop and return its result (to look at its state)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def connections(self) -> int:
        """How many connections the server holds open now."""
        assert self._listener is not None
        return int(self.call(lambda: len(self._listener._state.connections)))  # type: ignore[union-attr]

    @property
    def listener(self) -> Listener:
        assert self._listener is not None
        return self._listener

    def client(self, timeout: float = 10.0) -> Client:
        return Client(socket.create_connection(("127.0.0.1", self.port), timeout=timeout))


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    interim: list[int] = field(default_factory=list)  # 1xx statuses before this one


class Client:
    """A raw HTTP/1.1 client: send exact bytes, read exact responses."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self._buf += data
        return bool(data)

    def _line_block(self) -> bytes:
        while b"\r\n\r\n" not in self._buf:
            if not self._fill():
                raise ConnectionError(f"closed before a head: {self._buf[:200]!r}")
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        return head

    def _exactly(self, size: int) -> bytes:
        while len(self._buf) < size:
            if not self._fill():
                raise ConnectionError("closed mid-body")
        data, self._buf = self._buf[:size], self._buf[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            if not self._fill():
                raise ConnectionError("closed mid-chunk")
        line, self._buf = self._buf.split(b"\r\n", 1)
        return line

    def response(self, head_request: bool = False) -> Reply:
        interim: list[int] = []
        while True:
            lines = self._line_block().decode("latin-1").split("\r\n")
            _, status, *reason = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if 100 <= int(status) < 200:
                interim.append(int(status))
                continue
            break
        body = b""
        if head_request or int(status) in (204, 304):
            pass
        elif headers.get("transfer-encoding") == "chunked":
            while (size := int(self._line(), 16)) > 0:
                body += self._exactly(size)
                self._exactly(2)
            self._exactly(2)
        elif "content-length" in headers:
            body = self._exactly(int(headers["content-length"]))
        else:
            while self._fill():
                pass
            body, self._buf = self._buf, b""
        return Reply(int(status), reason[0] if reason else "", headers, body, interim)

    def closed(self, within: float = 5.0) -> bool:
        """True if the server closes the connection within ``within`` seconds (data is kept)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self._fill():
                    return True
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
        return False

    def pending(self) -> bytes:
        """What has arrived and was not read yet (waits briefly: 0.1 s, ages on loopback)."""
        self.sock.settimeout(0.1)
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            self._fill()
        return self._buf


def closed_among(clients: list[Client], at_least: int, within: float = 5.0) -> list[Client]:
    """The clients the server has closed: every one closed already, and, until ``at_least``
    of them are (or ``within`` has passed), those it closes meanwhile.

    Waits on all of them at once, so it returns as soon as enough are closed
    instead of giving each open one a wait of its own. What arrives before
    the close is kept in each client's buffer.
    """
    closed: list[Client] = []
    waiting = {client.sock: client for client in clients}
    deadline = time.monotonic() + within
    while waiting:
        # Enough closed: only what is already there, without waiting.
        left = max(deadline - time.monotonic(), 0.0) if len(closed) < at_least else 0.0
        readable, _, _ = select.select(list(waiting), [], [], left)
        if not readable:
            break
        for sock in readable:
            client = waiting[sock]
            try:
                ended = not client._fill()
            except ConnectionResetError:
                ended = True
            if ended:
                closed.append(waiting.pop(sock))
    return closed


def get(path: str = "/", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


def post(path: str, body: bytes, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
