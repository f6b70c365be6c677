"""Running the gateway process: state, credentials, provider, queue, app, shutdown.

Start-up order: state directory, credentials, provider (restarts persisted
replicas), queue, then the HTTP listener: on ``bind:port``, or on the socket
``PYFAAS_LISTEN_FD`` names, which ``pyfaas serve`` bound and passed down.
SIGTERM/SIGINT only set an event; shutdown then runs in reverse: stop
accepting and finish in-flight requests, close the queue, stop the replicas.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from pyfaas import credentials as creds
from pyfaas.errors import ConfigError
from pyfaas.gateway.listener import GatewayServer
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.httpd.limits import raise_fd_limit
from pyfaas.images import ImageManifest, ImageStore
from pyfaas.logformat import setup_logging
from pyfaas.paths import StatePaths
from pyfaas.providers.base import Provider
from pyfaas.providers.local import LocalProvider, LocalProviderSettings
from pyfaas.queue import open_queue

log = logging.getLogger("pyfaas.gateway")
SHUTDOWN_GRACE = 10.0


async def serve(environ: Mapping[str, str]) -> None:
    settings = GatewaySettings.from_env(environ)
    raise_fd_limit()  # before anything opens descriptors; the listener's cap stays below it
    paths = StatePaths(settings.home).ensure()
    credentials = creds.ensure(paths)[0] if settings.basic_auth else None
    provider = LocalProvider(paths, LocalProviderSettings.from_env(environ), _ensure_image)
    await provider.start()
    await run_gateway(settings, provider, credentials)


async def run_gateway(
    settings: GatewaySettings, provider: Provider, credentials: creds.Credentials | None
) -> None:
    """The gateway over a started ``provider`` until SIGTERM/SIGINT; closes the provider last.

    Shared by this module and ``gateway.cluster``, which differ only in the provider.
    """
    queue = open_queue(settings.queue_url)
    try:
        await queue.start()
        gateway = GatewayServer(settings, provider, queue, credentials, grace=SHUTDOWN_GRACE)
        try:
            sock = _inherited_socket(settings.listen_fd)
            port = await gateway.start(settings.bind, settings.port, sock=sock)
            log.info("Listening on http://%s:%d", settings.bind, port)
            await _wait_for_signal()
            log.info("Shutting down")
        finally:
            await gateway.close()
    finally:
        await queue.close()
        await provider.close()


def _inherited_socket(fd: int | None) -> socket.socket | None:
    """The listening socket ``pyfaas serve`` bound and passed down, if it did."""
    if fd is None:
        return None
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"PYFAAS_LISTEN_FD: {fd} is not an open socket: {exc.strerror}") from exc
    # Not for the replicas and builds this process starts.
    sock.set_inheritable(False)
    sock.setblocking(False)
    return sock


def _ensure_image(image: str, store: ImageStore) -> ImageManifest | None:
    """The builder's ``ensure_image``, for the provider to build store functions on demand."""
    # Imported on the first deploy of an image not in the store, not at start-up (~35 ms).
    from pyfaas.builder.store import ensure_image

    # The build's progress goes to the gateway's log: `pyfaas logs gateway` shows it.
    return ensure_image(image, store, lambda line: log.info("Building %s: %s", image, line))


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def main(environ: Mapping[str, str]) -> None:
    run_process(serve, environ)


def run_process(
    serve_with: Callable[[Mapping[str, str]], Coroutine[Any, Any, None]],
    environ: Mapping[str, str],
) -> None:
    """Set up logging, then run ``serve_with(environ)`` on uvloop where it is installed."""
    setup_logging("gateway", environ)  # PYFAAS_LOG_FORMAT: text or json lines
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a Linux dependency
        asyncio.run(serve_with(environ))
    else:
        uvloop.run(serve_with(environ))
