"""Gateway metrics with OpenFaaS's names, in a registry owned by one app.

Counters are plain dicts of ints read by a custom collector: the hot path
pays one dict update, no lock. A counter family is named without ``_total``
and its samples with it (``gateway_function_invocation_total``), because
prometheus_client writes a counter family's ``# TYPE`` line with ``_total``
appended. ``gateway_function_invocation_started`` has no ``_total`` in
OpenFaaS; prometheus_client cannot write a counter whose samples lack it, so
that one family is written here by hand, exactly as OpenFaaS's Go client
writes it (``# TYPE gateway_function_invocation_started counter`` over
samples of that name), which the Prometheus text parser reads as a counter.
The duration histogram uses prometheus_client, with label children cached.

``gateway_function_invocation_inflight`` (OpenFaaS Pro's gauge) is not
counted on the hot path: it is the started count less the completed ones,
taken when ``/metrics`` is scraped. Pro's ``gateway_service_ready_count``,
``gateway_service_target`` and ``gateway_service_min`` come from the
provider's function list at the scrape (``service_metrics.refresh_service_gauges``): ready
replicas, the ``com.openfaas.scale.target`` label (Pro's default 50) and the
``com.openfaas.scale.min`` label (default 1).

The watchdogs' ``http_requests_total``, ``http_request_duration_seconds``
and ``http_requests_in_flight`` are gathered from every replica at the
scrape and written with ``function_name`` and ``replica`` labels
(``replica_metrics.py``).

The ``queue_worker_*`` families are OpenFaaS Pro's queue-worker names, with a
``function_name`` label: the gateway counts the calls it queued, and reads
the rest from the queue's ``stats`` when ``/metrics`` is scraped, the
processed and callback-failure counters included (the queue keeps them).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from pyfaas.queue.base import FunctionStats, QueueStats

INFLIGHT = "gateway_function_invocation_inflight"

STARTED = "gateway_function_invocation_started"


class GatewayMetrics:
    """Invocation and async counters, durations, the service-count and queue gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.invocations: dict[tuple[str, str], int] = {}
        self.started: dict[str, int] = {}
        self.async_calls: dict[tuple[str, str], int] = {}
        self.queued: dict[str, int] = {}  # calls stored by this gateway's 202s
        self.service_count: dict[str, int] = {}
        # Per function at the last scrape: ready replicas, scaling target, minimum.
        self.service_ready: dict[str, int] = {}
        self.service_target: dict[str, float] = {}
        self.service_min: dict[str, int] = {}
        # The watchdogs' families at the last scrape (``replica_metrics.gather``).
        self.replica_families: list[Metric] = []
        # The queue's counts at the last scrape; None without a queue.
        self.queue_stats: QueueStats | None = None
        self._histogram = Histogram(
            "gateway_functions_seconds",
            "Function time taken",
            ["function_name", "code"],
            registry=self.registry,
        )
        self._observers: dict[tuple[str, str], Histogram] = {}
        self.registry.register(_CounterCollector(self))
        self.registry.register(_QueueCollector(self))
        self.registry.register(_ReplicaCollector(self))

    def start(self, function: str) -> None:
        self.started[function] = self.started.get(function, 0) + 1

    def finish(self, function: str, status: int, seconds: float) -> None:
        key = (function, str(status))
        self.invocations[key] = self.invocations.get(key, 0) + 1
        child = self._observers.get(key)
        if child is None:
            child = self._observers[key] = self._histogram.labels(*key)
        child.observe(seconds)

    def submitted(self, function: str, status: int, stored: bool = False) -> None:
        """One asynchronous submission answered ``status``; ``stored``: it queued a call."""
        key = (function, str(status))
        self.async_calls[key] = self.async_calls.get(key, 0) + 1
        if stored:
            self.queued[function] = self.queued.get(function, 0) + 1

    def inflight(self) -> dict[str, int]:
        """Synchronous invocations started and not yet completed, per function."""
        done: dict[str, int] = {}
        for (fn, _), n in list(self.invocations.items()):
            done[fn] = done.get(fn, 0) + n
        return {fn: max(0, n - done.get(fn, 0)) for fn, n in list(self.started.items())}

    def invocation_count(self, function: str) -> int:
        """Completed synchronous invocations of ``name.namespace``, every code."""
        return sum(n for (fn, _), n in self.invocations.items() if fn == function)

    def successes(self) -> dict[str, int]:
        """Completed invocations with code 200, per function (the autoscaler's signal)."""
        return {fn: n for (fn, code), n in self.invocations.items() if code == "200"}

    def exposition(self) -> bytes:
        return generate_latest(self.registry) + _started_family(self.started)


class _CounterCollector(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterable[Metric]:
        yield _counter(
            "gateway_function_invocation",
            "Function metrics",
            ("function_name", "code"),
            list(self._m.invocations.items()),
        )
        yield _counter(
            "gateway_async_invocation",
            "Asynchronous submissions by function and answer code.",
            ("function_name", "code"),
            list(self._m.async_calls.items()),
        )
        yield _counter(
            "queue_worker_messages_submitted",
            "Asynchronous calls queued by this gateway (202s that stored a call).",
            ("function_name",),
            [((fn,), n) for fn, n in self._m.queued.items()],
        )
        gauge = GaugeMetricFamily(
            "gateway_service_count",
            "Current count of replicas for function",
            labels=["function_name"],
        )
        for fn, replicas in self._m.service_count.items():
            gauge.add_metric([fn], replicas)
        yield gauge
        yield _gauge(INFLIGHT, "Function requests in flight", self._m.inflight())
        yield _gauge(
            "gateway_service_ready_count", "Ready replicas for function", self._m.service_ready
        )
        yield _gauge(
            "gateway_service_target", "Scaling target for function", self._m.service_target
        )
        yield _gauge("gateway_service_min", "Minimum replicas for function", self._m.service_min)


def _gauge(name: str, doc: str, values: dict[str, int] | dict[str, float]) -> Metric:
    gauge = GaugeMetricFamily(name, doc, labels=["function_name"])
    for fn, value in list(values.items()):
        gauge.add_metric([fn], float(value))
    return gauge


class _ReplicaCollector(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterable[Metric]:
        return list(self._m.replica_families)


_QUEUE_GAUGES: tuple[tuple[str, str], ...] = (
    ("queue_worker_pending_messages", "Calls waiting: queued, delayed and retrying."),
    ("queue_worker_function_invocation_inflight", "Calls running now."),
    ("queue_worker_oldest_message_age_seconds", "Seconds the oldest queued call has waited."),
    ("queue_worker_retrying_messages", "Calls waiting for their next attempt."),
    ("queue_worker_dead_letters", "Dead letters: buried, set aside or expired calls."),
)


def _gauge_values(stats: FunctionStats) -> tuple[float, ...]:
    # In the order of _QUEUE_GAUGES.
    pending = stats.queued + stats.delayed + stats.retrying
    return (pending, stats.running, stats.oldest_age, stats.retrying, stats.dead)


class _QueueCollector(Collector):
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._m = metrics

    def collect(self) -> Iterable[Metric]:
        stats = self._m.queue_stats
        if stats is None:
            return
        families = [
            GaugeMetricFamily(name, doc, labels=["function_name"]) for name, doc in _QUEUE_GAUGES
        ]
        for function in stats.functions:
            for family, value in zip(families, _gauge_values(function), strict=True):
                family.add_metric([function.function], float(value))
        yield from families
        # Counters kept by the queue itself, so they survive a gateway's
        # restart and a prune; callback deliveries are processed under
        # "callbacks", their failures under their call's function.
        yield _counter(
            "queue_worker_messages_processed",
            "Calls settled for good (acked or buried), per function.",
            ("function_name",),
            [((f.function,), f.processed) for f in stats.functions],
        )
        yield _counter(
            "queue_worker_callback_failures",
            "Callbacks that failed for good, per function of their call.",
            ("function_name",),
            [((f.function,), f.callback_failures) for f in stats.functions],
        )


def _counter(
    name: str, doc: str, labels: tuple[str, ...], values: list[tuple[tuple[str, ...], int]]
) -> Metric:
    # The family without "_total", the samples with it: see the module's docstring.
    metric = Metric(name, doc, "counter")
    for label_values, value in values:
        metric.add_sample(
            name + "_total", dict(zip(labels, label_values, strict=True)), float(value)
        )
    return metric


def _started_family(started: dict[str, int]) -> bytes:
    lines = [
        f"# HELP {STARTED} The total number of function HTTP requests started.",
        f"# TYPE {STARTED} counter",
    ]
    for function, count in started.items():
        lines.append(f'{STARTED}{{function_name="{_escape(function)}"}} {float(count)!r}')
    return ("\n".join(lines) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
