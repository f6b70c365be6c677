"""Replica counts from OpenFaaS's scaling labels.

``com.openfaas.scale.min`` sets the initial (and, on update, the reset)
desired count when it is a positive integer; ``com.openfaas.scale.max`` caps
what ``scale`` may ask for. Labels that are not positive integers are ignored,
as faas-netes does.
"""

from __future__ import annotations

from collections.abc import Mapping

MIN_LABEL = "com.openfaas.scale.min"
MAX_LABEL = "com.openfaas.scale.max"


def _positive(labels: Mapping[str, str] | None, key: str) -> int | None:
    raw = (labels or {}).get(key, "").strip()
    if not raw.isdigit() or int(raw) < 1:
        return None
    return int(raw)


def min_replicas(labels: Mapping[str, str] | None) -> int | None:
    return _positive(labels, MIN_LABEL)


def max_replicas(labels: Mapping[str, str] | None, ceiling: int) -> int:
    return min(_positive(labels, MAX_LABEL) or ceiling, ceiling)


def desired_replicas(labels: Mapping[str, str] | None, ceiling: int) -> int:
    """The replicas a new deployment starts with: the min label, else 1, never above the cap."""
    return min(min_replicas(labels) or 1, max_replicas(labels, ceiling))
