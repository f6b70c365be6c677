"""The watchdog process: listen, start the runner, serve, drain on SIGTERM.

Shutdown order, as OpenFaaS's watchdogs: mark unhealthy (and remove the lock
file), stop accepting, let in-flight requests finish for up to
``write_timeout``, stop the function, exit 0. If the function itself dies
(http mode) the watchdog exits 1 so the provider restarts the replica.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Mapping
from typing import Any, Protocol

from pyfaas.errors import PyfaasError
from pyfaas.httpd import server
from pyfaas.httpd.limits import raise_fd_limit
from pyfaas.httpd.messages import Request, Response
from pyfaas.logformat import log_format
from pyfaas.watchdog.app import Watchdog, create_app
from pyfaas.watchdog.jsonlog import watchdog_log
from pyfaas.watchdog.log import GoLog
from pyfaas.watchdog.metrics import ReplicaMetrics
from pyfaas.watchdog.settings import WatchdogSettings
from pyfaas.watchdog.workers import Workers

FAILED_GRACE = 1.0  # seconds


class Listener(Protocol):
    async def start(self, sock: socket.socket) -> None: ...
    def stop_accepting(self) -> None: ...
    async def drain(self, grace: float) -> bool: ...
    def abort(self) -> None: ...


def listening_socket(settings: WatchdogSettings, log: GoLog) -> socket.socket:
    """The provider's socket (``PYFAAS_LISTEN_FD``), else a new one on ``port``."""
    if settings.listen_fd is not None:
        sock = socket.socket(fileno=settings.listen_fd)
        # Forked functions must not inherit the listening socket.
        sock.set_inheritable(False)
        sock.setblocking(False)
    else:
        sock = server.listening_socket("127.0.0.1", settings.port)
    log(f"Listening on port: {sock.getsockname()[1]}")
    return sock


def make_listener(settings: WatchdogSettings, watchdog: Watchdog) -> Listener:
    async def handle(request: Request) -> Response:
        return await watchdog.handle(request)

    if settings.server == "aiohttp":
        from pyfaas.watchdog import server_aiohttp

        return server_aiohttp.Listener(handle, settings.limits)
    return server.Listener(handle, settings.limits, watchdog.log)


async def run(
    settings: WatchdogSettings,
    environ: Mapping[str, str],
    log: GoLog,
    sock: socket.socket | None = None,
    workers: Workers | None = None,
    metrics: ReplicaMetrics | None = None,
) -> int:
    workers = workers or Workers(1)
    metrics = metrics or ReplicaMetrics(workers.count)
    metrics.use(workers.index)
    watchdog = create_app(settings, environ, log, metrics)
    if workers.first:
        log(
            f"Timeouts: read: {settings.read_timeout:g}s write: {settings.write_timeout:g}s "
            f"hard: {settings.exec_timeout:g}s health: {settings.healthcheck_interval:g}s."
        )
    listener = make_listener(settings, watchdog)
    await listener.start(sock or listening_socket(settings, log))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    crashed: asyncio.Future[str] = loop.create_future()

    def crash(why: str) -> None:
        if not crashed.done():
            crashed.set_result(why)

    workers.watch(stop.set, crash)
    try:
        await watchdog.runner.start()
    except PyfaasError as exc:
        log(f"Cannot start the function: {exc}")
        await watchdog.runner.stop()
        workers.stop()
        await workers.wait()
        return 1
    watchdog.lifecycle.ready()
    code = await _serve_until_stopped(watchdog, listener, stop, crashed, log, workers)
    await workers.wait()
    return code


async def _serve_until_stopped(
    watchdog: Watchdog,
    listener: Listener,
    stop: asyncio.Event,
    crashed: asyncio.Future[str],
    log: GoLog,
    workers: Workers,
) -> int:
    stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    failed: asyncio.Future[Any] = watchdog.runner.failed
    await asyncio.wait([stopped, failed, crashed], return_when=asyncio.FIRST_COMPLETED)
    workers.stop()  # the other processes drain alongside this one
    first = workers.first
    watchdog.lifecycle.draining()
    listener.stop_accepting()
    if failed.done() or crashed.done():
        if crashed.done():
            log(f"{crashed.result()}: stopping")
        # Let calls that just failed with the function tell their callers so.
        stopped.cancel()
        await listener.drain(FAILED_GRACE)
        listener.abort()
        await watchdog.runner.stop()
        return 1
    if first:
        log("SIGTERM received.. shutting down server")
    if not await listener.drain(watchdog.settings.write_timeout):
        log(f"In-flight requests did not finish within {watchdog.settings.write_timeout:g}s")
    listener.abort()
    await watchdog.runner.stop()
    if first:
        log("Exiting.")
    return 0


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    log = GoLog(1)
    try:
        log = watchdog_log(log_format(environ))  # PYFAAS_LOG_FORMAT: text or json lines
        settings = WatchdogSettings.from_env(environ)
    except PyfaasError as exc:
        log(f"Bad configuration: {exc}")
        return 2
    raise_fd_limit()  # the server's connection cap stays below what this allows
    try:
        sock = listening_socket(settings, log)
    except OSError as exc:
        log(f"Cannot listen: {exc}")
        log.flush()
        return 1
    workers = Workers(settings.processes)
    # Made before the fork, so every watchdog process counts into one mapping.
    metrics = ReplicaMetrics(workers.count)
    workers.fork(log)
    try:
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            code = runner.run(run(settings, environ, log, sock, workers, metrics))
    finally:
        log.flush()
    if not workers.first:
        os._exit(code)  # the first process's interpreter state is not this one's to tear down
    return code


if __name__ == "__main__":
    sys.exit(main())
