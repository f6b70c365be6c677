"""Process trees read from ``/proc``: a process's descendants, and whether they are gone.

A process is named by ``(pid, start time)`` so that a pid the kernel hands to
a new process is not mistaken for the old one; a zombie counts as gone (it
runs nothing and holds no port, only waits for its reaper).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text.rpartition(")")[2].split()


def identity(pid: int) -> Proc | None:
    fields = _stat(pid)
    return (pid, int(fields[19])) if fields and len(fields) > 19 else None


def alive(proc: Proc) -> bool:
    fields = _stat(proc[0])
    return bool(fields) and fields[0] not in ("Z", "X") and int(fields[19]) == proc[1]


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(
                int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            )
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[Proc]:
    """Every living process below ``pid``, parents before their children."""
    out: list[Proc] = []
    pending = children(pid)
    while pending:
        child = pending.pop(0)
        proc = identity(child)
        if proc is not None and alive(proc):
            out.append(proc)
            pending.extend(children(child))
    return out


def command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def survivors(procs: list[Proc], within: float) -> list[str]:
    """Wait up to ``within`` seconds for ``procs`` to end; the command lines of those left."""
    deadline = time.monotonic() + within
    left = [p for p in procs if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return [f"{pid}: {command(pid)}" for pid, _ in left]


def boot_ticks() -> int:
    """Now, in the clock ticks of a process's start time."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return int(uptime * os.sysconf("SC_CLK_TCK"))


def marked(marks: tuple[str, ...], since: int, exclude: set[int]) -> list[Proc]:
    """Living processes started since ``since`` whose environment or command line holds a mark.

    Every child a test starts inherits the test session's environment, and a
    replica (whose environment is built from scratch) has its home under the
    test's state directory: between them, a mark names every process a test
    session started, and none of another session's.
    """
    found: list[Proc] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude:
            continue
        proc = identity(int(name))
        if proc is None or proc[1] < since or not alive(proc):
            continue
        try:
            seen = Path(f"/proc/{name}/environ").read_bytes()
            seen += Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if any(mark.encode() in seen for mark in marks):
            found.append(proc)
    return found
