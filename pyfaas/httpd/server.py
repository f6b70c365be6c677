"""A small HTTP/1.1 server on asyncio and httptools, for the hot paths.

``Listener(handler, limits)`` serves a handler (``Request -> Response``) on a
listening socket: ``accept`` takes the connections, ``capacity`` caps them,
``connection`` runs each (parsing, keep-alive, pipelining, chunked bodies both
ways, flow control, the timeouts and size limits of ``limits``), and ``wire``
writes the bytes. Neither the watchdog nor the gateway's public port needs
routing, cookies or multipart. It was chosen over aiohttp's server by
measurement (docs/performance.md).
"""

from __future__ import annotations

import resource
import socket

from pyfaas.httpd.accept import Acceptor
from pyfaas.httpd.capacity import Handler, Log, ServerState
from pyfaas.httpd.connection import HttpProtocol
from pyfaas.httpd.limits import Limits, connection_cap

__all__ = ["BACKLOG", "Handler", "HttpProtocol", "Limits", "Listener", "listening_socket"]

BACKLOG = 1024


def listening_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on ``host:port`` (port 0: any free one)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()  # a taken port or a bad address: no descriptor left open behind it
        raise
    return sock


class Listener:
    """The server as a main loop drives it (the watchdog's, the gateway's public port).

    The connection cap is ``limits.max_connections``, lowered at start to what the
    descriptor limit then in force allows (``limits.connection_cap``); a process
    raises that limit first with ``limits.raise_fd_limit``.
    """

    def __init__(self, handler: Handler, limits: Limits, log: Log | None = None) -> None:
        self._state = ServerState(handler, limits, log)
        self._acceptor: Acceptor | None = None

    @property
    def cap(self) -> int:
        return self._state.cap

    async def start(self, sock: socket.socket) -> None:
        state = self._state
        wanted = state.limits.max_connections
        state.cap = connection_cap(wanted, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        if state.cap < wanted:
            state.log(f"max_connections {wanted} lowered to {state.cap} by the descriptor limit")
        sock.setblocking(False)
        self._acceptor = Acceptor(sock, state, lambda: HttpProtocol(state))
        self._acceptor.start()

    def stop_accepting(self) -> None:
        if self._acceptor is not None:
            self._acceptor.stop()

    async def drain(self, grace: float) -> bool:
        return await self._state.drain(grace)

    def abort(self) -> None:
        if self._acceptor is not None:
            self._acceptor.abort()
        self._state.abort_all()
