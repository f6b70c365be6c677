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

OpenFaaS Pro's autoscaler labels (``ScalePolicy``): ``com.openfaas.scale.type``
(``rps``, ``capacity``, ``cpu`` or ``queue``) puts a function under Pro's
rule, with ``com.openfaas.scale.target`` (load per replica, default 50) and
``com.openfaas.scale.target-proportion`` (default 0.90), between min (1) and
max (20, Pro's default). A function without a type label keeps CE's rule.
``com.openfaas.scale.zero=true`` lets the idler scale it to zero after
``com.openfaas.scale.zero-duration`` without calls (``zero_duration``).

A label that is not a positive integer (after trimming blanks) is ignored,
as faas-netes ignores it; so is a target, a proportion or a duration that
does not parse, and a type that is not one of the four.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pyfaas._env import parse_bool, parse_duration
from pyfaas.errors import ConfigError

MIN_LABEL = "com.openfaas.scale.min"
MAX_LABEL = "com.openfaas.scale.max"
FACTOR_LABEL = "com.openfaas.scale.factor"
TYPE_LABEL = "com.openfaas.scale.type"
TARGET_LABEL = "com.openfaas.scale.target"
PROPORTION_LABEL = "com.openfaas.scale.target-proportion"
ZERO_LABEL = "com.openfaas.scale.zero"
ZERO_DURATION_LABEL = "com.openfaas.scale.zero-duration"

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


class ScaleMode(StrEnum):
    """What load a function under OpenFaaS Pro's rule is scaled by."""

    RPS = "rps"  # completed calls a second
    CAPACITY = "capacity"  # calls in flight
    CPU = "cpu"  # millicores used
    QUEUE = "queue"  # asynchronous calls waiting or running


@dataclass(frozen=True)
class ScalePolicy:
    """OpenFaaS Pro's reading of the labels, with Pro's defaults."""

    mode: ScaleMode
    target: float = 50.0
    proportion: float = 0.9
    minimum: int = 1
    maximum: int = 20

    @classmethod
    def from_labels(cls, labels: Labels) -> ScalePolicy | None:
        """The policy of a function with a known ``scale.type``; None: CE's rule applies."""
        raw = (labels or {}).get(TYPE_LABEL, "").strip().lower()
        try:
            mode = ScaleMode(raw)
        except ValueError:
            return None
        minimum = label_number(labels, MIN_LABEL, 1000) or 1
        maximum = max(label_number(labels, MAX_LABEL, 1000) or 20, minimum)
        target = _positive(labels, TARGET_LABEL) or 50.0
        proportion = _positive(labels, PROPORTION_LABEL) or 0.9
        return cls(mode, target, proportion, minimum, maximum)

    def desired(self, load: float) -> int:
        """Pro's rule: ``ceil(ready * mean load / (target * proportion))``, within min and max.

        ``load`` is the function's total (the mean per ready replica times
        their number), so the ready count cancels out.
        """
        wanted = math.ceil(load / (self.target * self.proportion) - 1e-9) if load > 0 else 0
        return min(max(wanted, self.minimum), self.maximum)


def zero_duration(labels: Labels, default: float) -> float | None:
    """How long the function may idle before it is scaled to zero; None: it is never."""
    found = labels or {}
    try:
        if not parse_bool(ZERO_LABEL, found.get(ZERO_LABEL, "false")):
            return None
    except ConfigError:
        return None
    raw = found.get(ZERO_DURATION_LABEL, "").strip()
    if not raw:
        return default
    try:
        seconds = parse_duration(ZERO_DURATION_LABEL, raw)
    except ConfigError:
        return default
    return seconds if seconds > 0 else default


def _positive(labels: Labels, key: str) -> float | None:
    raw = (labels or {}).get(key, "").strip()
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


__all__ = [
    "FACTOR_LABEL",
    "MAX_LABEL",
    "MIN_LABEL",
    "PROPORTION_LABEL",
    "TARGET_LABEL",
    "TYPE_LABEL",
    "ZERO_DURATION_LABEL",
    "ZERO_LABEL",
    "ScaleBounds",
    "ScaleMode",
    "ScalePolicy",
    "capped",
    "desired_replicas",
    "label_number",
    "max_replicas",
    "min_replicas",
    "wake_replicas",
    "zero_duration",
]
