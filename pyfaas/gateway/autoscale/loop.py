"""The autoscaler's loop: once a tick, every function under its rule, then the idler.

Each tick reads the load sources once (``loads``), lists the deployed
functions with their labels, and then:

* functions without a ``com.openfaas.scale.type`` label go to OpenFaaS CE's
  rps rule (``ce``), exactly as before the Pro modes existed;
* functions with one go to Pro's rule (``ScalePolicy.desired``) through the
  scale-down window (``rule.Stabilizer``);
* functions labelled ``com.openfaas.scale.zero=true`` are scaled to zero
  once idle (``idler``).

A function at zero replicas is left there by both rules: only a call, or a
scale request, brings it back. A failure to read or scale one function is
logged and the tick goes on with the next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from pyfaas import _tasks as tasks
from pyfaas.errors import PyfaasError
from pyfaas.gateway.autoscale.ce import CeRule
from pyfaas.gateway.autoscale.idler import Idler
from pyfaas.gateway.autoscale.loads import Loads
from pyfaas.gateway.autoscale.rule import Stabilizer
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.providers.base import Provider
from pyfaas.queue.base import Queue
from pyfaas.scale_labels import ScaleMode, ScalePolicy
from pyfaas.types import FunctionStatus

log = logging.getLogger("pyfaas.gateway")
RATE_WINDOW = 10.0  # seconds of counters the rps mode's rate is taken over


class Autoscaler:
    def __init__(
        self,
        provider: Provider,
        metrics: GatewayMetrics,
        default_namespace: str,
        *,
        queue: Queue | None = None,
        down_window: float = 300.0,
        zero_duration: float = 900.0,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self._loads = Loads(metrics, queue, provider, RATE_WINDOW)
        self._ce = CeRule(provider, default_namespace)
        self._idler = Idler(zero_duration)
        self._down_window = down_window
        self._interval, self._clock = interval, clock
        self._metrics = metrics
        self._stabilizers: dict[str, Stabilizer] = {}
        # (asked, given) where the provider gave fewer than asked (its own ceiling):
        # asking again each tick would change nothing.
        self._held_back: dict[str, tuple[int, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pyfaas-autoscaler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await tasks.stop(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.tick()
            except PyfaasError as exc:
                log.warning("autoscaler: %s", exc)

    async def tick(self) -> None:
        now = self._clock()
        self._loads.sample(now)
        functions = await self._functions()
        policies = {
            label: policy
            for label, status in functions.items()
            if (policy := ScalePolicy.from_labels(status.labels)) is not None
        }
        try:
            await self._ce.tick(now, self._metrics.successes(), policies)
        except PyfaasError as exc:
            log.warning("autoscaler: %s", exc)
        for label, status in functions.items():
            try:
                policy = policies.get(label)
                if policy is not None:
                    status = await self._apply(label, status, policy, now)
                await self._idle(label, status, now)
            except PyfaasError as exc:
                log.warning("autoscaler: %s: %s", label, exc)
        for gone in [label for label in self._stabilizers if label not in policies]:
            del self._stabilizers[gone]
            self._held_back.pop(gone, None)
        self._idler.forget(set(functions))

    async def _functions(self) -> dict[str, FunctionStatus]:
        found: dict[str, FunctionStatus] = {}
        for namespace in await self._provider.namespaces():
            for status in await self._provider.list_functions(namespace):
                found[f"{status.name}.{status.namespace}"] = status
        return found

    async def _apply(
        self, label: str, status: FunctionStatus, policy: ScalePolicy, now: float
    ) -> FunctionStatus:
        """Pro's rule on one function; its status as the rule left it."""
        if status.replicas == 0:
            self._stabilizers.pop(label, None)
            return status
        load = await self._load(label, status, policy.mode)
        if load is None:
            return status
        stabilizer = self._stabilizers.get(label)
        if stabilizer is None:
            stabilizer = self._stabilizers[label] = Stabilizer(
                self._down_window, now, status.replicas
            )
        target = stabilizer.decide(now, policy.desired(load))
        if target == status.replicas or self._held_back.get(label) == (target, status.replicas):
            return status
        log.info(
            "Scaling %s from %d to %d replicas (%s load %.4g, target %.4g x %.4g)",
            label,
            status.replicas,
            target,
            policy.mode,
            load,
            policy.target,
            policy.proportion,
        )
        await self._provider.scale(status.name, status.namespace, target)
        status = await self._provider.get_function(status.name, status.namespace)
        if status.replicas != target:
            self._held_back[label] = (target, status.replicas)
        else:
            self._held_back.pop(label, None)
        return status

    async def _load(self, label: str, status: FunctionStatus, mode: ScaleMode) -> float | None:
        if mode is ScaleMode.RPS:
            return self._loads.rps(label)
        if mode is ScaleMode.CAPACITY:
            return float(self._loads.inflight(label))
        if mode is ScaleMode.QUEUE:
            backlog = await self._loads.backlog(label)
            return None if backlog is None else float(backlog)
        return await self._loads.cpu(status.name, status.namespace)

    async def _idle(self, label: str, status: FunctionStatus, now: float) -> None:
        if not self._idler.wants(label, status):
            return
        busy = self._loads.inflight(label) > 0 or bool(await self._loads.backlog(label))
        if self._idler.due(label, status, self._loads.started(label), busy, now):
            log.info("Scaling %s to zero: idle", label)
            await self._provider.scale(status.name, status.namespace, 0)
            self._stabilizers.pop(label, None)
