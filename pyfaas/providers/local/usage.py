"""CPU and memory of a function's replicas, from their cgroups or from /proc.

A replica with cgroups is read from them: CPU time from ``cpu.stat``
(v2) or ``cpuacct.usage`` (v1), memory as the working set, the group's
usage less the page cache it could drop (``inactive_file``), which is what
Kubernetes reports. Without cgroups (or where a file cannot be read), the
replica's process tree is read from /proc: CPU time of its processes and of
the children they reaped, and their resident memory.

CPU is a rate, so it needs two readings: the meter keeps each replica's
recent readings and averages over the oldest one within ``WINDOW`` seconds.
A replica read for the first time is read again ``MIN_SPAN`` seconds later.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pyfaas.providers.base import FunctionUsage
from pyfaas.providers.local.cgroups import ReplicaCgroup, keyed_values

WINDOW = 10.0  # seconds of readings a CPU rate is averaged over, at most
MIN_SPAN = 0.25  # seconds between two readings, at least
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ReplicaSource:
    """What identifies one replica's use: its id, root process and cgroup."""

    replica: str
    pid: int | None
    cgroup: ReplicaCgroup | None


@dataclass(frozen=True)
class Reading:
    cpu_seconds: float
    memory: int


class UsageMeter:
    """Per-replica readings of one provider, kept to turn CPU time into a rate."""

    def __init__(self, window: float = WINDOW, min_span: float = MIN_SPAN) -> None:
        self._window = window
        self._min_span = min_span
        self._history: dict[str, deque[tuple[float, float]]] = {}

    async def measure(self, replicas: list[ReplicaSource]) -> FunctionUsage | None:
        """The replicas' use now; None when not one of them can be read."""
        if not replicas:
            return FunctionUsage()
        now, readings = await asyncio.to_thread(_read_all, replicas)
        if not readings:
            return None
        if any(not self._has_baseline(r, now) for r in readings):
            self._record(now, readings)
            await asyncio.sleep(self._min_span)
            now, readings = await asyncio.to_thread(_read_all, replicas)
        cpu = sum(self._rate(replica, now, r.cpu_seconds) for replica, r in readings.items())
        self._record(now, readings)
        return FunctionUsage(cpu=cpu, memory=sum(r.memory for r in readings.values()))

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the readings of replicas not in ``keep`` (they are gone)."""
        alive = set(keep)
        for replica in [r for r in self._history if r not in alive]:
            del self._history[replica]

    def _has_baseline(self, replica: str, now: float) -> bool:
        history = self._history.get(replica)
        return history is not None and bool(history) and now - history[0][0] >= self._min_span

    def _rate(self, replica: str, now: float, cpu_seconds: float) -> float:
        history = self._history.get(replica)
        if not history:
            return 0.0
        then, before = history[0]
        span = now - then
        # A process reparented away takes its CPU time with it: never below zero.
        return max(0.0, cpu_seconds - before) / span if span > 0 else 0.0

    def _record(self, now: float, readings: dict[str, Reading]) -> None:
        for replica, reading in readings.items():
            history = self._history.setdefault(replica, deque())
            history.append((now, reading.cpu_seconds))
            # Keep the newest reading older than the window, so a rate always spans it.
            while len(history) > 1 and now - history[1][0] >= self._window:
                history.popleft()


def _read_all(replicas: list[ReplicaSource]) -> tuple[float, dict[str, Reading]]:
    now = time.monotonic()
    tree: dict[int, list[int]] | None = None
    found: dict[str, Reading] = {}
    for source in replicas:
        reading = _from_cgroup(source.cgroup) if source.cgroup is not None else None
        if reading is None and source.pid is not None:
            if tree is None:
                tree = _children()
            reading = _from_proc(source.pid, tree)
        if reading is not None:
            found[source.replica] = reading
    return now, found


def _from_cgroup(group: ReplicaCgroup) -> Reading | None:
    if group.version == 2:
        directory = next(iter(group.dirs.values()))
        usec = keyed_values(directory / "cpu.stat").get("usage_usec")
        current = _number(directory / "memory.current")
        if usec is None or current is None:
            return None
        inactive = keyed_values(directory / "memory.stat").get("inactive_file", 0)
        return Reading(usec / 1e6, max(0, current - inactive))
    cpu_dir, memory_dir = group.dirs.get("cpuacct"), group.dirs.get("memory")
    if cpu_dir is None or memory_dir is None:
        return None
    nanos = _number(cpu_dir / "cpuacct.usage")
    used = _number(memory_dir / "memory.usage_in_bytes")
    if nanos is None or used is None:
        return None
    inactive = keyed_values(memory_dir / "memory.stat").get("total_inactive_file", 0)
    return Reading(nanos / 1e9, max(0, used - inactive))


def _from_proc(root: int, tree: dict[int, list[int]]) -> Reading | None:
    cpu, memory, seen = 0.0, 0, False
    pending = [root]
    while pending:
        pid = pending.pop()
        pending.extend(tree.get(pid, ()))
        fields = _stat_fields(pid)
        if fields is None:
            continue
        seen = True
        # utime, stime, cutime, cstime: fields 14-17 of /proc/PID/stat (1-based).
        cpu += sum(int(f) for f in fields[11:15]) / _TICKS
        memory += int(fields[21]) * _PAGE  # rss, in pages
    return Reading(cpu, memory) if seen else None


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from its state on (the name may hold spaces); None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Index 0 is the state, 1 the parent pid; field N (1-based) is index N - 3.
    return text.rpartition(")")[2].split()


def _number(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
