"""Functions over their limits: killed, reported, restarted; the platform keeps serving.

Memory and processes are limited by the kernel (cgroups) where the platform
can create groups; the replica's guard turns the kernel's counters into a
line in the function's log and a restart.
"""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from pyfaas.providers.local.cgroups import CgroupManager
from tests.helpers import wait_for
from tests.security.conftest import assert_healthy
from tests.security.platform import PYTHON, Platform, needs_bwrap

pytestmark = [pytest.mark.integration, needs_bwrap]


def _cgroups_writable() -> bool:
    manager = CgroupManager.detect("pyfaas-probe")
    if manager is None:
        return False
    manager.close()
    return True


needs_cgroups = pytest.mark.skipif(
    not _cgroups_writable(), reason="no writable memory/pids cgroup controller here"
)


@needs_cgroups
def test_a_memory_hog_is_killed_reported_and_restarted(platform: Platform) -> None:
    platform.deploy("hog", limits={"memory": "64Mi"})
    hog = f"exec {PYTHON} -c 'b = bytearray(1 << 30); print(len(b))'"
    resp = platform.run("hog", hog)
    assert resp.status_code in (500, 502), resp.text
    assert "\n" not in resp.text.strip()
    wait_for(lambda: "was killed: out of memory (limit 64Mi)" in platform.logs("hog"), timeout=10)
    assert_healthy(platform)
    # A new replica replaces the killed one and serves again.
    wait_for(lambda: platform.run("hog", "echo back").text == "back\n", timeout=20)


@needs_cgroups
def test_a_fork_bomb_hits_the_process_limit(platform: Platform) -> None:
    platform.deploy("bomb", envVars={"exec_timeout": "10s"})
    resp = platform.run("bomb", "f() { f | f & }; f; sleep 5", timeout=30)
    assert resp.status_code in (500, 502), resp.text
    wait_for(lambda: "was killed: process limit reached (limit 256)" in platform.logs("bomb"))
    assert_healthy(platform)
    wait_for(lambda: platform.run("bomb", "echo back").text == "back\n", timeout=20)


def test_exec_timeout_ends_a_slow_invocation(platform: Platform) -> None:
    platform.deploy("slow", envVars={"exec_timeout": "1s"})
    resp = platform.run("slow", "sleep 20; echo done")
    # The classic watchdog answers 408 when it kills a process over exec_timeout.
    assert resp.status_code in (408, 500, 502, 504), resp.text
    assert "done" not in resp.text
    assert_healthy(platform)


def test_max_inflight_refuses_the_surplus(platform: Platform) -> None:
    platform.deploy("single", envVars={"max_inflight": "1"})
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(platform.run, "single", "sleep 1; echo ok") for _ in range(4)]
        statuses = sorted(c.result().status_code for c in calls)
    assert 200 in statuses
    assert 429 in statuses
    assert_healthy(platform)


def test_a_body_over_the_limit_is_refused(platform: Platform) -> None:
    # The module's gateway runs with PYFAAS_MAX_BODY=1Mi.
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        resp = client.post("/function/healthy", content=b"x" * (2 * 1024 * 1024))
    assert resp.status_code == 413
    assert_healthy(platform)
