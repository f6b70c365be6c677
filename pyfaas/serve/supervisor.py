"""The supervisor loop of ``pyfaas serve``.

Signal handlers only record the signal; the loop acts on it. Start order:
gateway (wait for ``/healthz``), then queue-worker. A child that dies on its
own is restarted with exponential backoff. Shutdown is an ordered, timed
sequence: the queue-worker first (it finishes or hands back its in-flight
calls), then the gateway (which stops the function replicas).

The gateway's listening socket is serve's: bound before any child starts
(so port 0 works, and the worker is told the real URL), inherited by each
start of the gateway (``PYFAAS_LISTEN_FD``). A restarted gateway therefore
answers on the same port with no bind race, and connections made while it
restarts wait in the socket's backlog instead of being refused. Serve closes
its copy when it stops the gateway, so the gateway's own close then refuses
new connections at once.

A supervisor killed outright runs no shutdown at all: each component asked
the kernel to kill it with its parent (``pyfaas._children``), and takes its
own children along the same way, so a new ``pyfaas serve`` can start at once
on the same port and state. Accepted calls are on disk; calls a killed
worker held come back when their lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Callable, Mapping

import aiohttp

from pyfaas.serve.child import Child, LineSink, python_module

WORKER_GRACE = 35.0
GATEWAY_GRACE = 20.0
MAX_BACKOFF = 30.0
READY_TIMEOUT = 60.0
LISTEN_FD = "PYFAAS_LISTEN_FD"  # the gateway's setting: serve on this inherited socket


class Supervisor:
    def __init__(
        self,
        env: Mapping[str, str],
        gateway_url: str,
        sink: LineSink,
        say: Callable[[str], None],
        fresh: Callable[[], Mapping[str, str]] | None = None,
        listener: socket.socket | None = None,
    ) -> None:
        self._gateway_url = gateway_url
        self._say = say
        self._stop = asyncio.Event()
        self._listener = listener
        gateway = "pyfaas.gateway.cluster" if env.get("PYFAAS_CLUSTER") else "pyfaas.gateway"
        fds = (listener.fileno(),) if listener else ()
        gateway_env = {**env, LISTEN_FD: str(fds[0])} if fds else dict(env)
        self.gateway = Child("gateway", python_module(gateway), gateway_env, sink, fresh, fds)
        self.worker = Child("queue-worker", python_module("pyfaas.worker"), env, sink, fresh)

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        await self.gateway.start()
        if not await self._wait_ready():
            self._say("gateway did not become ready; stopping")
            await self._stop_gateway()
            return 1
        await self.worker.start()
        self._say(f"pyfaas is serving on {self._gateway_url}  (Ctrl-C stops it)")
        watchers = [
            asyncio.create_task(self._keep_alive(self.gateway)),
            asyncio.create_task(self._keep_alive(self.worker)),
        ]
        await self._stop.wait()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        self._say("stopping: queue-worker first, then the gateway")
        await self.worker.stop(WORKER_GRACE)
        await self._stop_gateway()
        self._say("stopped")
        return 0

    async def _stop_gateway(self) -> None:
        # Serve's copy of the socket first: once the gateway closes its own,
        # the port refuses connections instead of queueing them for no one.
        if self._listener is not None:
            self._listener.close()
        await self.gateway.stop(GATEWAY_GRACE)

    async def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline and not self._stop.is_set():
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{self._gateway_url}/healthz") as resp:
                        if resp.status == 200:
                            return True
                if self.gateway.returncode is not None:
                    return False
                await asyncio.sleep(0.1)
        return False

    async def _keep_alive(self, child: Child) -> None:
        """Restart ``child`` whenever it dies, backing off while it keeps dying."""
        backoff = 1.0
        while True:
            started = time.monotonic()
            code = await child.wait()
            if self._stop.is_set():
                return
            if time.monotonic() - started > 60:
                backoff = 1.0
            self._say(f"{child.name} exited with code {code}; restarting in {backoff:.0f}s")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            await child.start()
