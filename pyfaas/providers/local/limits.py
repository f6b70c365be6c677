"""Resource limits applied inside a replica process before it runs the watchdog.

``limits.memory`` (Kubernetes quantities: ``128Mi``, ``1G``, ``5Mi``) becomes
an address-space rlimit. The watchdog runtime itself needs address space a
container runtime would not count against the function, so the rlimit is the
function's limit plus ``RUNTIME_ALLOWANCE``; strict cgroup accounting belongs
to the sandbox, not here.

The child also asks the kernel for SIGKILL when the gateway process dies
(``PR_SET_PDEATHSIG``), so replicas never outlive the platform.
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass

from pyfaas.errors import BadRequest
from pyfaas.types import FunctionResources

RUNTIME_ALLOWANCE = 1024 * 1024 * 1024
_PR_SET_PDEATHSIG = 1
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


def replica_rlimits(limits: FunctionResources | None) -> tuple[RLimit, ...]:
    if limits is None or not limits.memory:
        return ()
    ceiling = parse_memory(limits.memory) + RUNTIME_ALLOWANCE
    return (RLimit(resource.RLIMIT_AS, ceiling, ceiling),)


def child_setup(rlimits: tuple[RLimit, ...]) -> Callable[[], None]:
    """The function a child runs between fork and exec (keep it async-signal-light)."""
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def setup() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died before prctl took effect.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        for limit in rlimits:
            resource.setrlimit(limit.resource, (limit.soft, limit.hard))

    return setup
