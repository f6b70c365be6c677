"""One replica: a supervised watchdog process listening on a socket the provider bound.

Lifecycle: ``starting`` (spawned, not yet healthy) -> ``available`` (answered
``GET /_/health`` with 200) -> ``stopping`` -> ``exited``. Every change calls
``on_change`` so the supervisor can reconcile. Output lines go to the log
store with the replica id as the instance. Stopping sends SIGTERM, lets the
watchdog drain, then SIGKILLs the replica's whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import replace

from pyfaas.errors import ServiceUnavailable
from pyfaas.logstore import LogStore
from pyfaas.providers.base import Endpoint
from pyfaas.providers.local.launch import ReplicaSpec, build_launch
from pyfaas.providers.local.limits import child_setup

STARTING, AVAILABLE, STOPPING, EXITED = "starting", "available", "stopping", "exited"
LINE_LIMIT = 1024 * 1024
LISTEN_BACKLOG = 1024


class Replica:
    def __init__(
        self,
        spec: ReplicaSpec,
        logs: LogStore,
        on_change: Callable[[], None],
        *,
        start_timeout: float,
        stop_timeout: float,
    ) -> None:
        self.spec = spec
        self.id = spec.replica_id
        self.state = STARTING
        self.endpoint = Endpoint(replica=spec.replica_id)
        self.started_at = time.monotonic()
        self.returncode: int | None = None
        self._logs = logs
        self._on_change = on_change
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def available(self) -> bool:
        return self.state == AVAILABLE

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        """Bind the socket, spawn the watchdog, and watch it in the background."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(LISTEN_BACKLOG)
            sock.set_inheritable(True)
            self.endpoint = Endpoint(port=sock.getsockname()[1], replica=self.id)
            launch = build_launch(replace(self.spec, listen_fd=sock.fileno()))
            self._proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                env=launch.env,
                cwd=launch.cwd,
                pass_fds=launch.pass_fds,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                preexec_fn=child_setup(launch.rlimits),
                limit=LINE_LIMIT,
            )
        except OSError as exc:
            self._set(EXITED)
            raise ServiceUnavailable(f"cannot start replica {self.id}: {exc}") from exc
        finally:
            # The child holds its own copy; ours would keep accepting after it died.
            sock.close()
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        self._tasks = [
            asyncio.create_task(self._pump(self._proc.stdout)),
            asyncio.create_task(self._pump(self._proc.stderr)),
            asyncio.create_task(self._watch(self._proc)),
        ]

    async def stop(self) -> None:
        """SIGTERM, wait up to the stop timeout, then SIGKILL the process group."""
        proc = self._proc
        if proc is None:
            self._set(EXITED)
            return
        if proc.returncode is None:
            self._set(STOPPING)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self._stop_timeout)
            except TimeoutError:
                self._log(f"replica did not stop within {self._stop_timeout:g}s: killed")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        await self._finish_tasks()
        self._set(EXITED)

    async def wait(self) -> int:
        """Wait for the process to exit; its return code."""
        if self._proc is None:
            return -1
        return await self._proc.wait()

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        healthy = await self._await_health(proc)
        if healthy and self.state == STARTING:
            self._set(AVAILABLE)
        elif not healthy and proc.returncode is None:
            self._log(f"replica not healthy within {self._start_timeout:g}s: killed")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.returncode = await proc.wait()
        if self.state != STOPPING:
            self._log(f"replica exited with status {self.returncode}")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            self._set(EXITED)

    async def _await_health(self, proc: asyncio.subprocess.Process) -> bool:
        deadline = time.monotonic() + self._start_timeout
        delay = 0.01
        while proc.returncode is None and time.monotonic() < deadline:
            if await health_ok(self.endpoint.port):
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)
        return False

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the limit: store it in pieces
                line = await stream.read(LINE_LIMIT)
            if not line:
                return
            self._log(line.decode(errors="replace").rstrip("\r\n"))

    async def _finish_tasks(self) -> None:
        pumps = [t for t in self._tasks if t is not asyncio.current_task()]
        _, pending = await asyncio.wait(pumps, timeout=2.0) if pumps else (set(), set())
        for task in pending:
            task.cancel()

    def _log(self, text: str) -> None:
        self._logs.append(self.spec.namespace, self.spec.name, self.id, text)

    def _set(self, state: str) -> None:
        if self.state != state:
            self.state = state
            self._on_change()


async def health_ok(port: int, host: str = "127.0.0.1") -> bool:
    """True if ``GET /_/health`` answers 200; one short HTTP/1.0 exchange."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"GET /_/health HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
        status = await asyncio.wait_for(reader.readline(), 1.0)
        return status.split(b" ", 2)[1:2] == [b"200"]
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
