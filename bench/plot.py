"""``python -m bench.plot``: the judged rows of a bench run as one bar chart.

    python -m bench.plot [bench/results/latest.json] [-o docs/performance.png]

Reads the file ``python -m bench`` writes (``bench.report.write_json``) and
draws one horizontal bar per row that has a target and a value: the row's
figure as a share of its target, so that 100 % is on the target and a longer
bar is better, for a "≤" target too (its bar is bound / figure). The colour is
the verdict the run recorded; this module judges nothing. The JSON holds a
target as its text only ("≥ 90 % (overhead ≤ 10 %)", "≤ 0.5 ms at c=1"), so
the bound is read back from that text, in the units ``bench.report`` prints.

Bad input (no such file, not JSON, no rows, a target it cannot read) is one
line on stderr and exit status 2. Matplotlib draws through its Agg canvas,
with no display, no network and its own bundled font.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import millis, percent, rate

DEFAULT_INPUT = Path(__file__).resolve().parent / "results" / "latest.json"
DEFAULT_OUTPUT = Path("docs/performance.png")
# A figure far past its target (a drain at five times the rate asked for)
# would squash every other bar; past this share the bar stops and says so.
SHARE_CAP = 5.0
COLOURS = {"PASS": "#2e7d32", "MISS": "#c62828"}
UNJUDGED = "#757575"

_TARGET = re.compile(
    r"^\s*(?P<op>≥|≤|>=|<=)\s*(?P<number>\d+(?:\.\d+)?)(?P<thousands>k)?"
    r"\s*(?P<unit>%|x|ms|µs|us|req/s|/s)?"
)


class BadInput(Exception):
    """The results file cannot be drawn; the message is the one line printed."""


@dataclass(frozen=True)
class Bound:
    """A target read back from its text: ``value >= bound`` or ``value <= bound``."""

    bound: float
    at_least: bool
    unit: str  # as the text wrote it: "%", "x", "ms", "req/s", "/s" or ""
    text: str  # the comparison alone, "≥ 90 %"

    def share(self, value: float) -> float:
        """How far ``value`` is along to meeting the target: 1.0 on it, more is better."""
        if self.at_least:
            return value / self.bound if self.bound else SHARE_CAP
        return self.bound / value if value > 0 else SHARE_CAP

    def show(self, value: float) -> str:
        """``value`` in the target's unit, the way ``bench.report`` prints it."""
        if self.unit == "%":
            return percent(value, 1)
        if self.unit == "x":
            return f"{value:.2f}x"
        if self.unit in ("ms", "µs", "us"):
            return millis(value)
        if self.unit == "req/s":
            return f"{rate(value)} req/s"
        return rate(value) + self.unit


def read_target(text: str) -> Bound:
    """The bound of a target text such as ``"≥ 1.6k/s (OpenFaaS 810/s)"``."""
    found = _TARGET.match(text)
    if found is None:
        raise BadInput(f"cannot read a bound from the target {text!r}")
    bound = float(found["number"]) * (1000 if found["thousands"] else 1)
    unit = found["unit"] or ""
    if unit == "%":
        bound /= 100
    elif unit in ("µs", "us"):
        bound /= 1000  # the rows' latencies are in milliseconds
    return Bound(bound, found["op"] in ("≥", ">="), unit, found[0].strip())


@dataclass(frozen=True)
class Bar:
    name: str
    share: float
    verdict: str
    note: str  # "64.1 % (≥ 20 %)"


def load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BadInput(f"cannot read {path}: {reason}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise BadInput(f"{path} holds no list of rows (is it a python -m bench result?)")
    return document


def bars(document: dict[str, Any], path: Path) -> list[Bar]:
    """One bar per row that has a target and a value, in the order of the run."""
    out = []
    for number, row in enumerate(document["rows"], 1):
        if not isinstance(row, dict):
            raise BadInput(f"{path}: row {number} is not an object")
        target, value = row.get("target"), row.get("value")
        if target is None or value is None:
            continue
        if not isinstance(target, str) or not isinstance(value, int | float):
            raise BadInput(f"{path}: row {number} has a target or value of the wrong type")
        try:
            bound = read_target(target)
        except BadInput as exc:
            raise BadInput(f"{path}: row {number}: {exc}") from None
        name = f"{row.get('section', '')}: {row.get('label', '')}"
        shown = row.get("shown") or bound.show(float(value))
        verdict = str(row.get("verdict") or "")
        out.append(Bar(name, bound.share(float(value)), verdict, f"{shown} ({bound.text})"))
    if not out:
        raise BadInput(f"{path} has no row with a target and a value")
    return out


def title(document: dict[str, Any]) -> str:
    before, after = document.get("machine") or {}, document.get("after") or {}
    parts = []
    if isinstance(before, dict) and before.get("time"):
        parts.append(f"run of {before['time']}")
    if isinstance(before, dict) and isinstance(after, dict):
        first, last = before.get("loadavg"), after.get("loadavg")
        if isinstance(first, list) and first and isinstance(last, list) and last:
            parts.append(f"load average {first[0]} before, {last[0]} after")
    heading = "pyfaas bench: each judged figure against its target"
    return heading + ("\n" + ", ".join(parts) if parts else "")


def draw(items: list[Bar], heading: str, out: Path) -> None:
    # Imported here: reading and checking the input needs no plotting library.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    height = 1.3 + 0.3 * len(items)
    figure = Figure(figsize=(10, height), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rows = range(len(items))
    shares = [min(item.share, SHARE_CAP) for item in items]
    colours = [COLOURS.get(item.verdict, UNJUDGED) for item in items]
    axes.barh(rows, shares, color=colours, height=0.65)
    axes.axvline(1.0, color="black", linewidth=1, linestyle="--")
    axes.set_yticks(list(rows), [item.name for item in items], fontsize=7)
    axes.invert_yaxis()  # the run's first row on top, as in the table
    limit = max(shares) * 1.35
    axes.set_xlim(0, limit)
    axes.xaxis.set_major_formatter(lambda x, _pos: f"{x * 100:.0f} %")
    axes.set_xlabel("figure as a share of its target (dashed: the target; longer is better)")
    for row, item, share in zip(rows, items, shares, strict=True):
        capped = " (bar cut)" if item.share > SHARE_CAP else ""
        # On a white ground: a note that crosses the target line stays legible.
        box = {"facecolor": "white", "edgecolor": "none", "pad": 1}
        axes.text(share + limit * 0.01, row, item.note + capped, va="center", fontsize=7, bbox=box)
    legend = [Patch(color=colour, label=verdict) for verdict, colour in COLOURS.items()]
    axes.legend(handles=legend, loc="best", fontsize=7)
    axes.set_title(heading, fontsize=9)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, format="png")
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plot", description="The judged rows of a bench run as a bar chart."
    )
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_INPUT)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        document = load(args.results)
        items = bars(document, args.results)
        draw(items, title(document), args.output)
    except BadInput as exc:
        print(f"bench.plot: {exc}", file=sys.stderr)
        return 2
    print(f"{args.output}: {len(items)} judged rows drawn")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
