"""OpenFaaS Pro's per-function service gauges, refreshed when ``/metrics`` is scraped.

The same refresh gathers the replicas' watchdog families (``replica_metrics``).

``gateway_service_ready_count`` (replicas that answer their health check),
``gateway_service_target`` (the ``com.openfaas.scale.target`` label, Pro's
default 50 when unset or not a positive number) and ``gateway_service_min``
(``com.openfaas.scale.min``, default 1), read from the provider's list of
every namespace. ``GatewayMetrics`` writes them; this module only gathers.
"""

from __future__ import annotations

from pyfaas.gateway.replica_metrics import gather
from pyfaas.gateway.state import GatewayState
from pyfaas.scale_labels import MIN_LABEL, TARGET_LABEL, label_number

DEFAULT_TARGET = 50.0


async def refresh_service_gauges(state: GatewayState) -> None:
    ready: dict[str, int] = {}
    target: dict[str, float] = {}
    minimum: dict[str, int] = {}
    for namespace in await state.provider.namespaces():
        for status in await state.provider.list_functions(namespace):
            key = f"{status.name}.{status.namespace}"
            ready[key] = status.available_replicas
            target[key] = _target(status.labels)
            minimum[key] = label_number(status.labels, MIN_LABEL, 1000) or 1
    metrics = state.metrics
    metrics.service_ready, metrics.service_target, metrics.service_min = ready, target, minimum
    metrics.replica_families = await gather(state.provider)


def _target(labels: dict[str, str]) -> float:
    try:
        value = float(labels.get(TARGET_LABEL, "").strip())
    except ValueError:
        return DEFAULT_TARGET
    return value if value > 0 and value == value and value != float("inf") else DEFAULT_TARGET
