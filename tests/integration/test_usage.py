"""A replica's CPU and memory as the local provider reads them: from its cgroups, or /proc."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from pyfaas.providers.local.cgroups import CgroupManager, ReplicaCgroup, ReplicaLimits
from pyfaas.providers.local.usage import ReplicaSource, UsageMeter

pytestmark = pytest.mark.integration

# Holds 64 MB and keeps one core busy; joins the groups named on its command line.
BUSY = """
import os, sys
for path in sys.argv[1:]:
    with open(path, "w") as f:
        f.write(str(os.getpid()))
held = bytearray(64 * 1024 * 1024)
for i in range(0, len(held), 4096):
    held[i] = 1
print("ready", flush=True)
while True:
    pass
"""


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    yield proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


async def test_a_process_tree_is_read_from_proc(busy: subprocess.Popen[bytes]) -> None:
    meter = UsageMeter()
    usage = await meter.measure([ReplicaSource("r", busy.pid, None)])
    assert usage is not None
    # Generous bounds: one busy core on a shared machine, 64 MB held.
    assert 0.2 < usage.cpu < 1.5
    assert 64 * 1024 * 1024 < usage.memory < 512 * 1024 * 1024


@pytest.fixture
def gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_a_gone_process_cannot_be_measured(gone_pid: int) -> None:
    assert await UsageMeter().measure([ReplicaSource("r", gone_pid, None)]) is None
    assert await UsageMeter().measure([]) is not None


@pytest.fixture
def busy_group() -> Iterator[ReplicaCgroup]:
    manager = CgroupManager.detect("pyfaas-usage-test")
    if manager is None or "memory" not in manager.controllers:
        pytest.skip("no writable memory cgroup here")
    group = manager.create("busy", ReplicaLimits())
    proc = subprocess.Popen(
        [sys.executable, "-c", BUSY, *group.procs_files], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        yield group
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        group.remove()
        manager.close()


async def test_a_cgroup_is_read_when_there_is_one(busy_group: ReplicaCgroup) -> None:
    # No pid: only the group can tell.
    usage = await UsageMeter().measure([ReplicaSource("busy", None, busy_group)])
    if usage is None:
        pytest.skip("this cgroup version has no CPU accounting file here")
    assert 0.2 < usage.cpu < 1.5
    assert 64 * 1024 * 1024 < usage.memory < 512 * 1024 * 1024
