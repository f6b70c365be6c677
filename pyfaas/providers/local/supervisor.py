"""Desired versus actual replicas of one function.

A ``FunctionSupervisor`` owns one reconcile loop: whenever something changes
(the desired count, a new deployment, a replica becoming healthy or dying) the
loop is kicked and brings the replicas in line. A replica that dies unasked is
replaced after an exponential back-off, reset once a replica has lived long
enough. A new deployment rolls: new replicas start, and the old ones are
retired once a new one is available (so the function keeps serving).

``pick`` is the proxy's hot path: a list index on the available endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable

from pyfaas import _tasks as tasks
from pyfaas.errors import PyfaasError
from pyfaas.logstore import LogStore
from pyfaas.providers.base import Endpoint
from pyfaas.providers.local.launch import ReplicaSpec
from pyfaas.providers.local.replica import AVAILABLE, EXITED, STARTING, Replica
from pyfaas.providers.local.settings import LocalProviderSettings

# A replica that lived this long was healthy: the next crash restarts at once.
STABLE_AFTER = 10.0

SpecFactory = Callable[[str], Awaitable[ReplicaSpec]]


class FunctionSupervisor:
    def __init__(
        self,
        namespace: str,
        name: str,
        make_spec: SpecFactory,
        desired: int,
        logs: LogStore,
        settings: LocalProviderSettings,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.desired = desired
        self._make_spec = make_spec
        self._generation = 0
        self._logs = logs
        self._settings = settings
        self._replicas: dict[str, tuple[int, Replica]] = {}
        self._retiring: set[str] = set()
        self._available: list[Endpoint] = []
        self._ready = asyncio.Event()
        self._kick = asyncio.Event()
        self._rr = 0
        self._failures = 0
        self._next_start = 0.0
        self._stops: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    # -- what the provider calls -------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name=f"supervise {self.name}")

    def set_desired(self, replicas: int) -> None:
        self.desired = replicas
        self._kick.set()

    def redeploy(self, make_spec: SpecFactory, desired: int) -> None:
        """Roll every replica onto a new spec (new image, env, secrets, ...)."""
        self._make_spec = make_spec
        self._generation += 1
        self._failures = 0
        self._next_start = 0.0
        self.set_desired(desired)

    @property
    def available_count(self) -> int:
        return len(self._available)

    def replicas(self) -> list[Replica]:
        return [replica for _, replica in self._replicas.values()]

    def pick(self) -> Endpoint | None:
        """The next available replica, round robin; None if there is none."""
        available = self._available
        if not available:
            return None
        self._rr = (self._rr + 1) % len(available)
        return available[self._rr]

    async def wait_available(self, within: float) -> Endpoint | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), within)
        return self.pick()

    async def close(self) -> None:
        """Stop the loop and every replica, in parallel, each within its stop timeout."""
        await tasks.stop(self._loop)
        for task in self._stops:
            task.cancel()
        replicas = self.replicas()
        await asyncio.gather(*(r.stop() for r in replicas), *self._stops, return_exceptions=True)
        for replica in replicas:
            shutil.rmtree(replica.spec.scratch, ignore_errors=True)
        self._replicas.clear()
        self._refresh()

    # -- the reconcile loop ------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._kick.clear()
            try:
                await self._reconcile()
            except Exception as exc:  # one bad pass must not end supervision
                self._logs.append(self.namespace, self.name, "provider", f"supervisor: {exc!r}")
                self._crashed(0.0)
            wake = max(0.0, self._next_start - time.monotonic()) if self._needs_start() else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), wake)

    async def _reconcile(self) -> None:
        self._reap()
        current = self._live(self._generation)
        if self._needs_start() and time.monotonic() >= self._next_start:
            for _ in range(self.desired - len(current)):
                await self._start_one()
        elif len(current) > self.desired:
            # Surplus: drop replicas still starting first, then the newest.
            surplus = sorted(current, key=lambda r: (r.state != STARTING, -r.started_at))
            for replica in surplus[: len(current) - self.desired]:
                self._retire(replica)
        new_ready = any(r.available for r in self._live(self._generation))
        for generation, replica in list(self._replicas.values()):
            if generation != self._generation and (new_ready or self.desired == 0):
                self._retire(replica)
        self._refresh()

    def _needs_start(self) -> bool:
        return len(self._live(self._generation)) < self.desired

    def _live(self, generation: int) -> list[Replica]:
        return [
            r
            for g, r in self._replicas.values()
            if g == generation and r.state in (STARTING, AVAILABLE) and r.id not in self._retiring
        ]

    def _reap(self) -> None:
        now = time.monotonic()
        for generation, replica in list(self._replicas.values()):
            if replica.state != EXITED:
                continue
            del self._replicas[replica.id]
            shutil.rmtree(replica.spec.scratch, ignore_errors=True)
            if replica.id in self._retiring:
                self._retiring.discard(replica.id)
            elif generation == self._generation:
                self._crashed(now - replica.started_at)

    def _crashed(self, lived: float) -> None:
        self._failures = 1 if lived >= STABLE_AFTER else self._failures + 1
        backoff = self._settings.restart_backoff * 2 ** (self._failures - 1)
        self._next_start = time.monotonic() + min(backoff, self._settings.restart_backoff_max)

    async def _start_one(self) -> None:
        replica_id = f"{self.name}-{secrets.token_hex(4)}"
        try:
            spec = await self._make_spec(replica_id)
            replica = Replica(
                spec,
                self._logs,
                self._kick.set,
                start_timeout=self._settings.start_timeout,
                stop_timeout=self._settings.stop_timeout,
            )
            await replica.start()
        except (PyfaasError, OSError) as exc:
            self._logs.append(self.namespace, self.name, replica_id, f"cannot start: {exc}")
            self._crashed(0.0)
            return
        self._replicas[replica.id] = (self._generation, replica)

    def _retire(self, replica: Replica) -> None:
        if replica.id in self._retiring:
            return
        self._retiring.add(replica.id)
        task = asyncio.create_task(self._stop_later(replica))
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)

    async def _stop_later(self, replica: Replica) -> None:
        # Out of rotation now (see _refresh); requests already routed still connect.
        if replica.state != STARTING:
            await asyncio.sleep(self._settings.unroute_delay)
        await replica.stop()

    def _refresh(self) -> None:
        self._available = [
            r.endpoint
            for _, r in self._replicas.values()
            if r.available and r.id not in self._retiring
        ]
        if self._available:
            self._ready.set()
        else:
            self._ready.clear()
