"""Per-replica control groups: memory, CPU and process-count limits the kernel enforces.

At start the provider looks for controllers it may write: cgroup v1
hierarchies (``memory``, ``cpu``, ``pids``) where it can create a child of its
own group, or a delegated cgroup v2 group whose ``subtree_control`` accepts
the controllers. Each replica gets ``<own group>/pyfaas-<pid>/<replica id>``
per controller; the child joins it between fork and exec (before bubblewrap
runs), so the watchdog and everything it forks are counted.

Where no controller is writable, ``CgroupManager.detect`` returns None and the
provider falls back to rlimits (see ``limits.py``).

The kernel's counters tell what happened: ``oom_kill`` (memory) and the
``max`` event (pids) grow when a replica hits its limit, which the replica's
guard turns into one log line and a restart.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

# cpuacct limits nothing: it counts a replica's CPU time (see usage.py) where
# cgroup v1 mounts it apart from cpu.
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class ReplicaLimits:
    """What the kernel should enforce for one replica; None means unlimited."""

    memory: int | None = None
    # CPU in thousandths of a core (Kubernetes millicores): 500 is half a core.
    cpu_millis: int | None = None
    pids: int | None = None


@dataclass(frozen=True)
class Counters:
    oom_kills: int = 0
    pids_max: int = 0


class ReplicaCgroup:
    """The groups of one replica, one directory per controller."""

    def __init__(self, dirs: dict[str, Path], version: int) -> None:
        self.dirs = dirs
        self.version = version

    @property
    def procs_files(self) -> tuple[str, ...]:
        # v2 has one directory for every controller; join it once.
        return tuple(sorted({str(d / "cgroup.procs") for d in self.dirs.values()}))

    def counters(self) -> Counters:
        if self.version == 2:
            directory = next(iter(self.dirs.values()))
            events = keyed_values(directory / "memory.events")
            pids = keyed_values(directory / "pids.events")
            return Counters(events.get("oom_kill", 0), pids.get("max", 0))
        memory = self.dirs.get("memory")
        pids_dir = self.dirs.get("pids")
        oom = keyed_values(memory / "memory.oom_control").get("oom_kill", 0) if memory else 0
        hits = keyed_values(pids_dir / "pids.events").get("max", 0) if pids_dir else 0
        return Counters(oom, hits)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for directory in self.dirs.values():
            with contextlib.suppress(OSError):
                text = (directory / "cgroup.procs").read_text()
                found.update(int(p) for p in text.split())
        return sorted(found)

    def kill_all(self, within: float = 2.0) -> None:
        """SIGKILL every process in the group until none is left (forks race us).

        Killed processes take a moment to leave the group, and a group is only
        removable once they have.
        """
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self) -> None:
        self.kill_all()
        for directory in set(self.dirs.values()):
            with contextlib.suppress(OSError):
                directory.rmdir()


class CgroupManager:
    """The provider's parent groups, one per writable controller."""

    def __init__(self, parents: dict[str, Path], version: int) -> None:
        self.parents = parents
        self.version = version

    @property
    def controllers(self) -> tuple[str, ...]:
        return tuple(sorted(self.parents))

    @classmethod
    def detect(cls, tag: str | None = None) -> CgroupManager | None:
        """Create this process's parent groups; None if no controller is writable."""
        tag = tag or f"pyfaas-{os.getpid()}"
        mounts = _mounts()
        own = _own_groups()
        parents: dict[str, Path] = {}
        for controller in V1_CONTROLLERS:
            mount = mounts.get(controller)
            if mount is not None and controller in own:
                parent = _make_parent(mount / own[controller].lstrip("/"), tag)
                if parent is not None:
                    parents[controller] = parent
        if parents:
            return cls(parents, 1)
        unified = mounts.get("")
        if unified is not None and "" in own:
            parent = _v2_parent(unified / own[""].lstrip("/"), tag)
            if parent is not None:
                return cls({c: parent for c in V1_CONTROLLERS}, 2)
        return None

    def create(self, replica_id: str, limits: ReplicaLimits) -> ReplicaCgroup:
        """A fresh group for one replica with ``limits`` written; OSError if refused."""
        dirs = {c: p / replica_id for c, p in self.parents.items()}
        for directory in set(dirs.values()):
            directory.mkdir(exist_ok=True)
        group = ReplicaCgroup(dirs, self.version)
        try:
            self._apply(dirs, limits)
        except OSError:
            group.remove()
            raise
        return group

    def close(self) -> None:
        for parent in set(self.parents.values()):
            for child in parent.iterdir() if parent.is_dir() else ():
                if child.is_dir():
                    ReplicaCgroup({"any": child}, self.version).remove()
            with contextlib.suppress(OSError):
                parent.rmdir()

    def _apply(self, dirs: dict[str, Path], limits: ReplicaLimits) -> None:
        if self.version == 2:
            directory = next(iter(dirs.values()))
            if limits.memory is not None:
                _write(directory / "memory.max", limits.memory)
                _write(directory / "memory.swap.max", 0, optional=True)
            if limits.cpu_millis is not None:
                quota = max(1000, limits.cpu_millis * CFS_PERIOD_US // 1000)
                (directory / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
            if limits.pids is not None:
                _write(directory / "pids.max", limits.pids)
            return
        memory, cpu, pids = dirs.get("memory"), dirs.get("cpu"), dirs.get("pids")
        if memory is not None and limits.memory is not None:
            _write(memory / "memory.limit_in_bytes", limits.memory)
            # Without this a replica could spill past its limit into swap.
            _write(memory / "memory.memsw.limit_in_bytes", limits.memory, optional=True)
        if cpu is not None and limits.cpu_millis is not None:
            _write(cpu / "cpu.cfs_period_us", CFS_PERIOD_US)
            _write(cpu / "cpu.cfs_quota_us", max(1000, limits.cpu_millis * CFS_PERIOD_US // 1000))
        if pids is not None and limits.pids is not None:
            _write(pids / "pids.max", limits.pids)


def parse_cpu(text: str) -> int:
    """Millicores from a CPU quantity (``500m``, ``0.5``, ``2``); ValueError if not one."""
    text = text.strip()
    value = float(text[:-1]) if text.endswith("m") else float(text) * 1000
    if value <= 0 or value != value:
        raise ValueError(text)
    return max(1, int(value))


def _write(path: Path, value: int, *, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise


def keyed_values(path: Path) -> dict[str, int]:
    """``key value`` lines of a cgroup file; empty if the file cannot be read."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    found: dict[str, int] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            found[key] = int(value)
    return found


def _mounts() -> dict[str, Path]:
    """Controller -> mount point of its hierarchy (``""`` for cgroup v2)."""
    found: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, extra = before.split(), after.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        if extra[0] == "cgroup2":
            found.setdefault("", Path(fields[4]))
        elif extra[0] == "cgroup":
            for option in extra[2].split(","):
                if option in V1_CONTROLLERS:
                    found.setdefault(option, Path(fields[4]))
    return found


def _own_groups() -> dict[str, str]:
    """Controller -> this process's group path (``""`` for cgroup v2)."""
    found: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            found[controller] = parts[2]
    return found


def _remove_stale(own: Path) -> None:
    """Groups left by a provider process that died without closing them."""
    try:
        stale = [p for p in own.glob("pyfaas-*") if p.is_dir()]
    except OSError:
        return
    for parent in stale:
        pid = parent.name.removeprefix("pyfaas-")
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        for child in parent.iterdir():
            if child.is_dir():
                ReplicaCgroup({"any": child}, 1).remove()
        with contextlib.suppress(OSError):
            parent.rmdir()


def _make_parent(own: Path, tag: str) -> Path | None:
    _remove_stale(own)
    parent = own / tag
    try:
        parent.mkdir(exist_ok=True)
        probe = parent / "probe"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError:
        with contextlib.suppress(OSError):
            parent.rmdir()
        return None
    return parent


def _v2_parent(own: Path, tag: str) -> Path | None:
    # A v2 group may only hand controllers down if it holds no processes itself
    # (or is the root), so the provider's parent enables them for its replicas.
    parent = _make_parent(own, tag)
    if parent is None:
        return None
    try:
        (own / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
    except OSError:
        with contextlib.suppress(OSError):
            parent.rmdir()
        return None
    return parent
