"""The soak's findings: resident memory per kind of process, and the two tables printed.

``Memory`` samples every kind of process below serve (first sample, peak,
last); ``totals`` sets what the load sent (``Ledger``) against what ran
(``Receiver``): lost calls, calls run twice, missing callbacks. ``table``
prints rows as a markdown table.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from bench.soak_load import Ledger, Receiver
from bench.soak_serve import KILLED, KINDS, Serve, rss_kib

SAMPLE_EVERY = 5.0


class Memory:
    """Resident memory per kind of process: the first sample, the peak, the last."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.first: dict[str, tuple[int, int]] = {}  # kind -> (processes, KiB)
        self.last: dict[str, tuple[int, int]] = {}
        self.peak: collections.Counter[str] = collections.Counter()

    def sample(self) -> dict[str, tuple[int, int]]:
        found = {
            kind: (len(pids), sum(rss_kib(pid) for pid in pids))
            for kind, pids in self.serve.processes().items()
        }
        for kind, (_, kib) in found.items():
            self.peak[kind] = max(self.peak[kind], kib)
        if not self.first:
            self.first = found
        self.last = found
        return found

    def sampler(self, stop: threading.Event) -> threading.Thread:
        def run() -> None:
            while not stop.wait(SAMPLE_EVERY):
                with contextlib.suppress(Exception):  # a process may end mid-read
                    self.sample()

        return threading.Thread(target=run, daemon=True)


@dataclass
class Totals:
    rows: list[tuple[str, str]]
    lost: int
    ran_refused: int


def totals(ledger: Ledger, receiver: Receiver, minutes: float, drained: float) -> Totals:
    runs, callbacks = receiver.counts()
    accepted = set(ledger.accepted)
    lost = len(accepted - runs.keys())
    ran_refused = len(runs.keys() & set(ledger.refused))
    missing_callbacks = len(ledger.with_callback - callbacks.keys())
    rows = [
        ("load", f"{minutes:g} min, then {drained:.0f} s to drain"),
        ("kills", ", ".join(f"{kind} {ledger.kills[kind]}" for kind in KILLED)),
        ("sync calls: ok / failed", f"{ledger.sync_ok} / {ledger.sync_failed}"),
        ("async calls accepted (202)", str(len(accepted))),
        ("  of them with a callback", str(len(ledger.with_callback))),
        ("async submissions refused", f"{ledger.async_failed} ({len(ledger.refused)} not stored)"),
        ("accepted calls run", str(len(accepted & runs.keys()))),
        ("**lost** (accepted, never run)", str(lost)),
        ("run twice or more", str(sum(1 for n in runs.values() if n > 1))),
        ("run without a 202", str(len(runs.keys() - accepted))),
        ("run although refused as not stored", str(ran_refused)),
        (
            "callbacks missing / repeated",
            f"{missing_callbacks} / {sum(1 for n in callbacks.values() if n > 1)}",
        ),
    ]
    return Totals(rows, lost, ran_refused)


def table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def memory_rows(memory: Memory) -> list[tuple[str, ...]]:
    def mib(kib: int) -> str:
        return f"{kib / 1024:.1f}"

    rows: list[tuple[str, ...]] = []
    for kind in ("serve", *KINDS):
        n0, start = memory.first.get(kind, (0, 0))
        n1, end = memory.last.get(kind, (0, 0))
        rows.append((kind, f"{n0} / {n1}", mib(start), mib(memory.peak[kind]), mib(end)))
    return rows
