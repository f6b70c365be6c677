"""Rows of the benchmark: a measurement, its ratio, its target, PASS or MISS.

A row's verdict is computed here and nowhere else, so the printed table, the
JSON file and the documentation agree on what passed.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """``value >= bound`` (``at_least``) or ``value <= bound``; ``text`` says it in words."""

    bound: float
    at_least: bool
    text: str

    def met(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound


def at_least(bound: float, text: str) -> Target:
    return Target(bound, True, text)


def at_most(bound: float, text: str) -> Target:
    return Target(bound, False, text)


@dataclass(frozen=True)
class Row:
    section: str
    label: str
    measured: str  # what was seen, in words: "5.1k req/s, p50 1.83 ms"
    value: float | None = None  # the figure the target judges
    shown: str = ""  # how ``value`` is printed: "31 %", "0.31 ms"
    target: Target | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.target is None or self.value is None:
            return ""
        return "PASS" if self.target.met(self.value) else "MISS"

    def to_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "label": self.label,
            "measured": self.measured,
            "value": self.value,
            "target": self.target.text if self.target else None,
            "verdict": self.verdict or None,
            "data": self.data,
        }


def ratio(part: float, whole: float) -> float:
    """``part / whole``; 0 when ``whole`` is 0 (a server that answered nothing)."""
    return part / whole if whole else 0.0


def median_round(rounds: list[T], figure: Callable[[T], float]) -> T:
    """The round whose ``figure`` is the median (the lower middle of an even count).

    A ratio is read from rounds that alternate its two sides: this machine
    is shared, and one round's figure moves by 10-20 % with the neighbours.
    """
    ordered = sorted(rounds, key=figure)
    return ordered[(len(ordered) - 1) // 2]


def spread(values: list[float]) -> str:
    """The rounds' ratios, in the order they were measured: ``"84 %, 91 %, 95 %"``."""
    return ", ".join(percent(value) for value in values)


def percent(value: float, digits: int = 0) -> str:
    """``0.896`` as ``90 %``, or ``89.6 %`` with a digit, as a judged figure shows."""
    return f"{value * 100:.{digits}f} %"


def rate(value: float) -> str:
    """Requests or calls a second, short: ``812``, ``5.1k``, ``18k``."""
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def millis(value: float) -> str:
    return f"{value * 1000:.0f} µs" if abs(value) < 1 else f"{value:.2f} ms"


def markdown(rows: list[Row]) -> str:
    lines = [
        "| section | row | measured | figure | target | verdict |",
        "|---|---|---|---:|---|---|",
    ]
    for row in rows:
        target = row.target.text if row.target else ""
        cells = [row.section, row.label, row.measured, row.shown, target, row.verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures depend on besides the code: cores, load, interpreter."""
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(path: Path, rows: list[Row], before: dict[str, Any], after: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": before, "after": after, "rows": [row.to_json() for row in rows]}
    path.write_text(json.dumps(document, indent=2) + "\n")
