"""Gateway metrics with OpenFaaS CE's names, in a registry owned by one app.

Counters are plain dicts of ints read by a custom collector: the hot path
pays one dict update, no lock, and the exposed names are exactly OpenFaaS's
(``gateway_function_invocation_started`` has no ``_total`` suffix, as in Go).
The duration histogram uses prometheus_client, with label children cached.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector


class GatewayMetrics:
    """Invocation and async counters, durations, and the service-count gauge."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.invocations: dict[tuple[str, str], int] = {}
        self.started: dict[str, int] = {}
        self.async_calls: dict[tuple[str, str], int] = {}
        self.service_count: dict[str, int] = {}
        self._histogram = Histogram(
            "gateway_functions_seconds",
            "Function time taken",
            ["function_name", "code"],
            registry=self.registry,
        )
        self._observers: dict[tuple[str, str], Histogram] = {}
        self.registry.register(_CounterCollector(self))

    def start(self, function: str) -> None:
        self.started[function] = self.started.get(function, 0) + 1

    def finish(self, function: str, status: int, seconds: float) -> None:
        key = (function, str(status))
        self.invocations[key] = self.invocations.get(key, 0) + 1
        child = self._observers.get(key)
        if child is None:
            child = self._observers[key] = self._histogram.labels(*key)
        child.observe(seconds)

    def submitted(self, function: str, status: int) -> None:
        key = (function, str(status))
        self.async_calls[key] = self.async_calls.get(key, 0) + 1

    def invocation_count(self, function: str) -> int:
        """Completed synchronous invocations of ``name.namespace``, every code."""
        return sum(n for (fn, _), n in self.invocations.items() if fn == function)

    def successes(self) -> dict[str, int]:
        """Completed invocations with code 200, per function (the autoscaler's signal)."""
        return {fn: n for (fn, code), n in self.invocations.items() if code == "200"}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _CounterCollector(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterable[Metric]:
        yield _counter(
            "gateway_function_invocation_total",
            "Function metrics",
            ("function_name", "code"),
            list(self._m.invocations.items()),
        )
        yield _counter(
            "gateway_function_invocation_started",
            "The total number of function HTTP requests started.",
            ("function_name",),
            [((fn,), n) for fn, n in self._m.started.items()],
        )
        yield _counter(
            "gateway_async_invocation_total",
            "Asynchronous submissions by function and answer code.",
            ("function_name", "code"),
            list(self._m.async_calls.items()),
        )
        gauge = GaugeMetricFamily(
            "gateway_service_count",
            "Current count of replicas for function",
            labels=["function_name"],
        )
        for fn, replicas in self._m.service_count.items():
            gauge.add_metric([fn], replicas)
        yield gauge


def _counter(
    name: str, doc: str, labels: tuple[str, ...], values: list[tuple[tuple[str, ...], int]]
) -> Metric:
    # Built by hand so the sample name is exactly ``name`` (no added ``_total``).
    metric = Metric(name, doc, "counter")
    for label_values, value in values:
        metric.add_sample(name, dict(zip(labels, label_values, strict=True)), float(value))
    return metric
