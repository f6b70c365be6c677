"""Where each scaling mode's load comes from, read once per tick.

* ``rps``: completed calls a second over the last ``window`` seconds, every
  status code, from the gateway's invocation counters (the queue-worker's
  calls come through the gateway too, so they count).
* ``capacity``: calls in flight now, the calls started less the calls
  completed. Both counters exist already for ``/metrics``, so the proxy's
  path pays nothing more for this mode.
* ``queue``: asynchronous calls of the function waiting to be claimed or
  running, from ``queue.stats()``, read only on ticks that need it.
* ``cpu``: the provider's ``usage`` of the function's replicas together, in
  millicores (as OpenFaaS gives CPU), asked only for ``cpu`` functions.

Each figure is the function's total over its replicas; ``ScalePolicy``
divides it by the target per replica.
"""

from __future__ import annotations

import logging
from collections import deque

from pyfaas.errors import PyfaasError
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.providers.base import Provider
from pyfaas.queue.base import Queue

log = logging.getLogger("pyfaas.gateway")


class Loads:
    """The load sources of one gateway, sampled by ``sample`` each tick."""

    def __init__(
        self, metrics: GatewayMetrics, queue: Queue | None, provider: Provider, window: float
    ) -> None:
        self._metrics = metrics
        self._provider = provider
        self._queue = queue
        self._window = window
        self._completed: dict[str, int] = {}
        self._samples: dict[str, deque[tuple[float, int]]] = {}
        self._backlog: dict[str, int] | None = None
        self._backlog_read = False

    def sample(self, now: float) -> None:
        """Read the counters: what ``rps``, ``inflight`` and ``started`` answer until the next."""
        completed: dict[str, int] = {}
        for (function, _), count in list(self._metrics.invocations.items()):
            completed[function] = completed.get(function, 0) + count
        self._completed = completed
        for function, count in completed.items():
            samples = self._samples.setdefault(function, deque())
            samples.append((now, count))
            while samples[0][0] < now - self._window:
                samples.popleft()
        self._backlog, self._backlog_read = None, False

    def rps(self, function: str) -> float:
        samples = self._samples.get(function)
        if not samples or len(samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def started(self, function: str) -> int:
        return self._metrics.started.get(function, 0)

    def inflight(self, function: str) -> int:
        return max(0, self.started(function) - self._completed.get(function, 0))

    async def backlog(self, function: str) -> int | None:
        """Asynchronous calls of ``function`` queued or running; None if the queue cannot say."""
        if not self._backlog_read:
            self._backlog, self._backlog_read = await self._read_backlog(), True
        return None if self._backlog is None else self._backlog.get(function, 0)

    async def cpu(self, name: str, namespace: str) -> float | None:
        """Millicores the function's replicas use together; None if they cannot be measured."""
        usage = await self._provider.usage(name, namespace)
        return None if usage is None else usage.cpu * 1000

    async def _read_backlog(self) -> dict[str, int] | None:
        if self._queue is None:
            return {}
        try:
            stats = await self._queue.stats()
        except PyfaasError as exc:
            # No figure this tick: queue-mode functions keep their count.
            log.warning("autoscaler: queue stats unavailable: %s", exc)
            return None
        return {f.function: f.queued + f.running for f in stats.functions}
