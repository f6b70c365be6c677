"""Resource limits applied inside a replica process before it runs the watchdog.

``limits.memory`` (Kubernetes quantities: ``128Mi``, ``1G``, ``5Mi``) and
``limits.cpu`` (``500m``, ``1``) become ``ReplicaLimits`` the kernel enforces
through cgroups (``cgroups.py``), with ``CGROUP_RUNTIME_ALLOWANCE`` added to
memory for the Python watchdog a container's Go watchdog would not need.

Without a memory cgroup, memory becomes a data rlimit (``RLIMIT_DATA``) of
the requested size for each process of the replica, not for the replica as a
whole. ``RLIMIT_DATA`` counts what a process can write to (heap, anonymous
maps, thread stacks), ``RLIMIT_AS`` every reservation too: glibc's 64 MiB
malloc arenas and unused stack space would make an address-space limit of
the requested size far stricter than the memory it stands for. Measured
here (Python 3.11, Linux 6.18), the least a watchdog serves with is 13 MiB
of data in classic and inproc mode and 56 MiB in http mode (27, 27 and 77
MiB of address space); a smaller request is raised to ``rlimit_floor(mode)``
and ``enforcement.py`` says so. CPU and the process count have no rlimit
that means the same (``RLIMIT_CPU`` is CPU seconds, ``RLIMIT_NPROC`` counts
every process of the user): without their cgroups they are not enforced.

The child also asks the kernel for SIGKILL when the gateway process dies
(``pyfaas._children``), so replicas never outlive the platform.
"""

from __future__ import annotations

import os
import re
import resource
from collections.abc import Callable
from dataclasses import dataclass

from pyfaas._children import die_with_parent
from pyfaas.errors import BadRequest
from pyfaas.providers.local.cgroups import ReplicaLimits, parse_cpu
from pyfaas.types import FunctionResources

MIB = 1024 * 1024
# The least each watchdog mode starts and serves with under RLIMIT_DATA, with a margin.
RLIMIT_FLOOR = 16 * MIB
HTTP_RLIMIT_FLOOR = 64 * MIB
CGROUP_RUNTIME_ALLOWANCE = 32 * 1024 * 1024
DEFAULT_PIDS = 256
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_FACTOR = {
    None: 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}


@dataclass(frozen=True)
class RLimit:
    resource: int
    soft: int
    hard: int


def parse_memory(text: str) -> int:
    """Bytes from a Kubernetes memory quantity; ``BadRequest`` naming the value."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise BadRequest(f"limits.memory: {text!r} is not a memory quantity (use 128Mi or 1G)")
    return int(float(match.group(1)) * _FACTOR[match.group(2)])


def parse_cpu_limit(text: str) -> int:
    """Millicores from ``limits.cpu``; ``BadRequest`` naming the value."""
    try:
        return parse_cpu(text)
    except ValueError:
        raise BadRequest(f"limits.cpu: {text!r} is not a CPU quantity (use 500m or 1)") from None


def replica_limits(limits: FunctionResources | None, pids: int | None) -> ReplicaLimits:
    """What the replica's cgroups enforce; memory includes the watchdog's allowance."""
    memory = cpu = None
    if limits is not None and limits.memory:
        memory = parse_memory(limits.memory) + CGROUP_RUNTIME_ALLOWANCE
    if limits is not None and limits.cpu:
        cpu = parse_cpu_limit(limits.cpu)
    return ReplicaLimits(memory=memory, cpu_millis=cpu, pids=pids)


def rlimit_floor(mode: str) -> int:
    """The smallest data rlimit the watchdog runs with in ``mode``."""
    return HTTP_RLIMIT_FLOOR if mode == "http" else RLIMIT_FLOOR


def rlimit_memory(limits: FunctionResources | None, mode: str) -> int | None:
    """The data rlimit standing in for ``limits.memory``; None if no memory is asked for."""
    if limits is None or not limits.memory:
        return None
    return max(parse_memory(limits.memory), rlimit_floor(mode))


def replica_rlimits(
    limits: FunctionResources | None, *, memory_cgroup: bool = False, mode: str = "classic"
) -> tuple[RLimit, ...]:
    """The rlimit fallback: each process's data, when no memory cgroup counts the replica."""
    ceiling = None if memory_cgroup else rlimit_memory(limits, mode)
    if ceiling is None:
        return ()
    return (RLimit(resource.RLIMIT_DATA, ceiling, ceiling),)


def child_setup(
    rlimits: tuple[RLimit, ...], cgroup_procs: tuple[str, ...] = ()
) -> Callable[[], None]:
    """The function a child runs between fork and exec (keep it async-signal-light).

    Joining the replica's cgroups here, before exec, means nothing the replica
    forks can escape them.
    """

    def setup() -> None:
        for procs in cgroup_procs:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        for limit in rlimits:
            resource.setrlimit(limit.resource, (limit.soft, limit.hard))

    return die_with_parent(setup) or setup
