"""One replica: a supervised watchdog process listening on a socket the provider bound.

Lifecycle: ``starting`` (spawned, not yet healthy) -> ``available`` (answered
``GET /_/health`` with 200) -> ``stopping`` -> ``exited``. Every change calls
``on_change`` so the supervisor can reconcile. Output lines go to the log
store with the replica id as the instance. Stopping sends SIGTERM to the
watchdog (inside its sandbox, if any), lets it drain, then SIGKILLs the
replica's whole process group and everything left in its cgroups.

With cgroups, a guard watches the kernel's counters: a replica that ran out
of memory or processes is killed, reported in the function's log, and
replaced by the supervisor.
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
from pyfaas.providers.local.cgroups import Counters, ReplicaCgroup
from pyfaas.providers.local.launch import ReplicaSpec, build_launch
from pyfaas.providers.local.limits import CGROUP_RUNTIME_ALLOWANCE, child_setup
from pyfaas.providers.local.sandbox import kill_tree, payload_pid

STARTING, AVAILABLE, STOPPING, EXITED = "starting", "available", "stopping", "exited"
LINE_LIMIT = 1024 * 1024
PUMP_CHUNK = 64 * 1024
LISTEN_BACKLOG = 1024
GUARD_INTERVAL = 0.2


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
        self._cgroup: ReplicaCgroup | None = None
        self._sandboxed = False
        self._killed_for: str | None = None

    @property
    def available(self) -> bool:
        return self.state == AVAILABLE

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def cgroup(self) -> ReplicaCgroup | None:
        """The replica's cgroups while it runs in them (read for its usage)."""
        return self._cgroup

    async def start(self) -> None:
        """Bind the socket, spawn the watchdog, and watch it in the background."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(LISTEN_BACKLOG)
            sock.set_inheritable(True)
            self.endpoint = Endpoint(port=sock.getsockname()[1], replica=self.id)
            launch = build_launch(replace(self.spec, listen_fd=sock.fileno()))
            self._sandboxed = launch.sandboxed
            if self.spec.cgroups is not None:
                self._cgroup = self.spec.cgroups.create(self.id, self.spec.limits)
            procs = self._cgroup.procs_files if self._cgroup else ()
            spawn = asyncio.ensure_future(
                asyncio.create_subprocess_exec(
                    *launch.argv,
                    env=launch.env,
                    cwd=launch.cwd,
                    pass_fds=launch.pass_fds,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,
                    preexec_fn=child_setup(launch.rlimits, procs),
                    limit=LINE_LIMIT,
                )
            )
            # Cancelled half-way, asyncio would kill bubblewrap alone and wait for
            # pipes its inner process still holds: finish, then kill everything.
            try:
                self._proc = await asyncio.shield(spawn)
            except asyncio.CancelledError:
                spawn.add_done_callback(self._abandon)
                raise
        except OSError as exc:
            self._set(EXITED)
            self._remove_cgroup()
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
        if self._cgroup is not None:
            self._tasks.append(asyncio.create_task(self._guard(self._proc, self._cgroup)))

    async def stop(self) -> None:
        """SIGTERM, wait up to the stop timeout, then SIGKILL the process group."""
        proc = self._proc
        if proc is None:
            self._set(EXITED)
            return
        if proc.returncode is None:
            self._set(STOPPING)
            self._terminate(proc)
            try:
                await asyncio.wait_for(proc.wait(), self._stop_timeout)
            except TimeoutError:
                self._log(f"replica did not stop within {self._stop_timeout:g}s: killed")
        # Whatever still holds the output pipes would keep wait() from returning.
        await asyncio.to_thread(self._kill_all, proc)
        await proc.wait()
        self._remove_cgroup()
        await self._finish_tasks()
        self._set(EXITED)

    def _abandon(self, spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
        if not spawn.cancelled() and spawn.exception() is None:
            self._kill_all(spawn.result())
        self._remove_cgroup()
        self._set(EXITED)

    def _kill_all(self, proc: asyncio.subprocess.Process) -> None:
        """SIGKILL the replica and everything it started.

        Killing bubblewrap alone is not enough: its inner process may not yet
        have asked to die with it, and would be left holding the replica.
        """
        if self._cgroup is not None:
            self._cgroup.kill_all()
        elif self._sandboxed:
            kill_tree(proc.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        # bubblewrap does not pass signals on: the watchdog inside must get
        # SIGTERM itself to drain.
        if not self._sandboxed:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            return
        target = payload_pid(proc.pid)
        if target is None:
            # Still setting up: nothing to drain, and a signal to bubblewrap alone
            # could leave its inner process behind.
            self._kill_all(proc)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGTERM)

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
            self._kill_all(proc)
        self.returncode = await proc.wait()
        if self.state != STOPPING:
            if self._cgroup is not None and self._killed_for is None:
                self._check_limits(self._cgroup, Counters())
            if self._killed_for is None:
                self._log(f"replica exited with status {self.returncode}")
            self._kill_all(proc)
            self._remove_cgroup()
            self._set(EXITED)

    async def _guard(self, proc: asyncio.subprocess.Process, group: ReplicaCgroup) -> None:
        """Kill the replica when the kernel reports it hit its memory or process limit."""
        baseline = group.counters()
        while proc.returncode is None and self._killed_for is None:
            await asyncio.sleep(GUARD_INTERVAL)
            if proc.returncode is None and self._check_limits(group, baseline):
                await asyncio.to_thread(self._kill_all, proc)

    def _check_limits(self, group: ReplicaCgroup, baseline: Counters) -> bool:
        counters = group.counters()
        limits = self.spec.limits
        if counters.oom_kills > baseline.oom_kills:
            shown = _mebibytes((limits.memory or 0) - CGROUP_RUNTIME_ALLOWANCE)
            self._killed_for = f"out of memory (limit {shown})"
        elif counters.pids_max > baseline.pids_max:
            self._killed_for = f"process limit reached (limit {limits.pids})"
        else:
            return False
        self._log(f"replica {self.id} of {self.spec.name} was killed: {self._killed_for}")
        return True

    def _remove_cgroup(self) -> None:
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

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
        """Store what the replica prints, whatever arrived at once in one write."""
        pending = b""
        while True:
            chunk = await stream.read(PUMP_CHUNK)
            if not chunk:
                if pending:
                    self._log_lines([pending])
                return
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if len(pending) >= LINE_LIMIT:  # a line over the limit: store it in pieces
                lines.append(pending)
                pending = b""
            if lines:
                self._log_lines(lines)

    def _log_lines(self, lines: list[bytes]) -> None:
        texts = [line.decode(errors="replace").rstrip("\r") for line in lines]
        self._logs.append_many(self.spec.namespace, self.spec.name, self.id, texts)

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


def _mebibytes(value: int) -> str:
    return f"{value // (1024 * 1024)}Mi" if value % (1024 * 1024) == 0 else str(value)


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
