"""The gateway as one listening port: ``GatewayServer(settings, provider, queue, credentials)``.

It runs the aiohttp application (``app.create_app``) on a Unix socket in a
private directory (mode 0700) and the public front (``front.Front`` on
``pyfaas.httpd``) on the TCP port. Stopping is ordered: stop accepting, stop
the application (its autoscaler, its streams), let in-flight invocations
finish for up to ``grace`` seconds, then close pooled connections. The public
port's listening socket is closed as soon as accepting stops, so a client
that connects during the drain is refused at once instead of waiting in a
backlog nobody reads.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
from pathlib import Path

from aiohttp import web

from pyfaas.credentials import Credentials
from pyfaas.gateway.app import create_app
from pyfaas.gateway.front import Front
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.gateway.state import STATE, GatewayState
from pyfaas.httpd import server
from pyfaas.providers.base import Provider
from pyfaas.queue.base import Queue
from pyfaas.upstream import Address, UpstreamPool

log = logging.getLogger("pyfaas.gateway")


class GatewayServer:
    """Owns the application runner, the front's server and the pooled connections."""

    def __init__(
        self,
        settings: GatewaySettings,
        provider: Provider,
        queue: Queue | None,
        credentials: Credentials | None,
        *,
        grace: float = 10.0,
    ) -> None:
        self.app = create_app(settings, provider, queue, credentials)
        self.state: GatewayState = self.app[STATE]
        self._grace = grace
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=grace)
        self._upstreams = UpstreamPool()
        self._listener: server.Listener | None = None
        self._sock: socket.socket | None = None
        self._private: Path | None = None
        self.port = 0

    async def start(self, host: str, port: int, *, sock: socket.socket | None = None) -> int:
        """Listen on ``host:port`` (0: any free port), or on ``sock``; return the port."""
        self._private = Path(tempfile.mkdtemp(prefix="pyfaas-gateway-"))
        path = str(self._private / "api.sock")
        await self._runner.setup()
        await web.UnixSite(self._runner, path).start()
        front = Front(self.state, self._upstreams, Address(host="localhost", unix_path=path))
        if sock is None:
            sock = server.listening_socket(host, port)
        self._sock = sock
        self._listener = server.Listener(front.handle, self.state.settings.limits, _log_warning)
        await self._listener.start(sock)
        self.port = self.state.public_port = sock.getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.stop_accepting()
        if self._sock is not None:
            # httpd's acceptor only stops reading the socket; it is this server's to close.
            self._sock.close()
            self._sock = None
        # The application first: it ends its endless streams (followed logs),
        # which the front would otherwise wait for.
        await self._runner.cleanup()
        if self._listener is not None:
            await self._listener.drain(self._grace)
            self._listener.abort()
            self._listener = None
        await self._upstreams.close()
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None


def _log_warning(message: str) -> None:
    log.warning("%s", message)
