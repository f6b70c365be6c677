"""What a function's limits really are, in words: for ``describe`` and the start-up warning.

A function's status carries the annotation ``com.pyfaas.limits.enforced``
when it asks for limits (OpenFaaS clients keep annotations they do not know,
and faas-cli prints them), saying for each limit how the kernel enforces it
here: by a cgroup, by a per-process rlimit (memory only, see ``limits.py``),
or not at all. ``pyfaas serve`` prints one warning line at start when a
controller is missing, naming what is not enforced and how to get it.
"""

from __future__ import annotations

from collections.abc import Collection

from pyfaas.providers.local.cgroups import parse_cpu
from pyfaas.providers.local.limits import (
    CGROUP_RUNTIME_ALLOWANCE,
    parse_memory,
    rlimit_floor,
    rlimit_memory,
)
from pyfaas.types import LIMITS_ENFORCED_ANNOTATION, FunctionResources

ENFORCED_ANNOTATION = LIMITS_ENFORCED_ANNOTATION
CONTROLLERS = ("memory", "cpu", "pids")
DELEGATE_HINT = (
    "run pyfaas serve in a delegated cgroup (systemd-run --user --scope -p Delegate=yes"
    " pyfaas serve, or a container given its own writable cgroup)"
)


def enforcement(
    limits: FunctionResources | None, controllers: Collection[str], mode: str, pids: int
) -> str | None:
    """How each limit of a function is enforced; None if it asks for none."""
    if limits is None or not (limits.memory or limits.cpu):
        return None
    parts = []
    if limits.memory:
        parts.append(_memory(limits.memory, "memory" in controllers, mode))
    if limits.cpu:
        if "cpu" in controllers:
            cores = parse_cpu(limits.cpu) / 1000
            parts.append(
                f"cpu: {limits.cpu} requested, enforced by a cpu cgroup quota of {cores:g} core"
            )
        else:
            parts.append(f"cpu: {limits.cpu} requested, not enforced (no writable cpu cgroup)")
    if "pids" in controllers:
        parts.append(f"processes: at most {pids} per replica, enforced by a pids cgroup")
    else:
        parts.append("processes: not limited (no writable pids cgroup)")
    return "; ".join(parts)


def _memory(requested: str, cgroup: bool, mode: str) -> str:
    if cgroup:
        total = parse_memory(requested) + CGROUP_RUNTIME_ALLOWANCE
        return (
            f"memory: {requested} requested, enforced by a memory cgroup of {size(total)} for"
            f" the replica ({size(CGROUP_RUNTIME_ALLOWANCE)} of it for the watchdog)"
        )
    ceiling = rlimit_memory(FunctionResources(memory=requested), mode) or 0
    text = (
        f"memory: {requested} requested, enforced as a data rlimit (RLIMIT_DATA) of"
        f" {size(ceiling)} for each process of the replica, not for the replica as a whole"
        " (no writable memory cgroup)"
    )
    if ceiling > parse_memory(requested):
        text += f", raised to the {size(rlimit_floor(mode))} the watchdog needs in {mode} mode"
    return text


def unenforced_warning(controllers: Collection[str], *, wanted: bool = True) -> str | None:
    """One warning line naming the limits not enforced here; None if all are."""
    missing = [c for c in CONTROLLERS if c not in controllers]
    if not missing:
        return None
    what = {
        "memory": "limits.memory is only a per-process data rlimit",
        "cpu": "limits.cpu is not enforced",
        "pids": "the process limit is not enforced",
    }
    why = "PYFAAS_CGROUPS=false" if not wanted else f"no writable {'/'.join(missing)} cgroup"
    fix = "unset PYFAAS_CGROUPS and " if not wanted else ""
    return (
        f"WARNING: function limits are NOT fully enforced ({why}):"
        f" {', '.join(what[c] for c in missing)}; for kernel-enforced limits, {fix}{DELEGATE_HINT}"
    )


def size(value: int) -> str:
    mib = 1024 * 1024
    return f"{value // mib}Mi" if value % mib == 0 else f"{value}"
