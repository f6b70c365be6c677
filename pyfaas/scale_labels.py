"""OpenFaaS's replica-scaling labels, read the same way by every provider and the gateway.

A deployment's labels say how many replicas it may run:

- ``com.openfaas.scale.min`` sets the initial desired count, resets it on an
  update that carries it, and is what a call to a function scaled to zero
  brings it back to (``max(1, min)``) `[NETES deploy.go getMinReplicaCount]`;
- ``com.openfaas.scale.max`` caps what a scale request may ask for: a request
  above it is lowered to it, as the CE gateway's scaling handler clamps
  `[FAAS gateway/scaling/ranges.go]`; a provider's own ceiling
  (``PYFAAS_MAX_REPLICAS`` for the local one) caps it in turn;
- ``com.openfaas.scale.factor`` is the percentage of ``max`` the autoscaler
  adds per step (``ScaleBounds``), with OpenFaaS CE's alert-handler defaults
  (min 1, max 5, factor 10).

A label that is not a positive integer (after trimming blanks) is ignored,
as faas-netes ignores it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MIN_LABEL = "com.openfaas.scale.min"
MAX_LABEL = "com.openfaas.scale.max"
FACTOR_LABEL = "com.openfaas.scale.factor"

Labels = Mapping[str, str] | None


def label_number(labels: Labels, key: str, high: int | None = None) -> int | None:
    """The label's value if it is an integer from 1 to ``high`` (unbounded if None)."""
    raw = (labels or {}).get(key, "").strip()
    if not raw.isdigit() or int(raw) < 1:
        return None
    value = int(raw)
    return value if high is None or value <= high else None


def min_replicas(labels: Labels) -> int | None:
    return label_number(labels, MIN_LABEL)


def max_replicas(labels: Labels, ceiling: int | None = None) -> int | None:
    """The ``scale.max`` label under the provider's ceiling; None when neither bounds it."""
    found = label_number(labels, MAX_LABEL)
    if ceiling is None:
        return found
    return min(found or ceiling, ceiling)


def capped(replicas: int, labels: Labels, ceiling: int | None = None) -> int:
    """A scale request's count, lowered to ``scale.max`` (and the ceiling) when above it."""
    cap = max_replicas(labels, ceiling)
    return replicas if cap is None else min(replicas, cap)


def desired_replicas(labels: Labels, ceiling: int | None = None) -> int:
    """The replicas a new deployment starts with: the min label, else 1, never above the cap."""
    return capped(min_replicas(labels) or 1, labels, ceiling)


def wake_replicas(labels: Labels) -> int:
    """What a call to a function scaled to zero brings it back to: ``max(1, scale.min)``."""
    return min_replicas(labels) or 1


@dataclass(frozen=True)
class ScaleBounds:
    """The autoscaler's reading of the labels, with OpenFaaS CE's alert-handler defaults."""

    minimum: int = 1
    maximum: int = 5
    factor: int = 10

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> ScaleBounds:
        minimum = label_number(labels, MIN_LABEL, 1000) or 1
        maximum = max(label_number(labels, MAX_LABEL, 1000) or 5, minimum)
        return cls(minimum, maximum, label_number(labels, FACTOR_LABEL, 100) or 10)

    def step_up(self, current: int) -> int:
        step = math.ceil(self.maximum / 100 * self.factor)
        return min(current + step, self.maximum)


__all__ = [
    "FACTOR_LABEL",
    "MAX_LABEL",
    "MIN_LABEL",
    "ScaleBounds",
    "capped",
    "desired_replicas",
    "label_number",
    "max_replicas",
    "min_replicas",
    "wake_replicas",
]
