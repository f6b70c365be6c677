"""Functions over their limits: killed, reported, restarted; the platform keeps serving.

Memory and processes are limited by the kernel (cgroups) where the platform
can create groups; the replica's guard turns the kernel's counters into a
line in the function's log and a restart. Without cgroups, memory is a data
rlimit of the requested size in each process; either way the function's
status says how (annotation ``com.pyfaas.limits.enforced``).
"""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest

from pyfaas.providers.local.cgroups import CgroupManager
from pyfaas.providers.local.enforcement import ENFORCED_ANNOTATION
from tests.helpers import wait_for
from tests.security.conftest import assert_healthy
from tests.security.platform import PYTHON, Platform, needs_bwrap, running_platform

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


def allocate(mebibytes: int) -> str:
    """A script for a ``sh`` function: Python takes (and touches) that much memory."""
    return f"exec {PYTHON} -c 'b = bytearray({mebibytes} << 20); print(len(b) >> 20)'"


def enforced(platform: Platform, name: str) -> str:
    with platform.client() as client:
        status = client.get(f"/system/function/{name}").json()
    return str(status["annotations"][ENFORCED_ANNOTATION])


def test_the_deploy_answer_says_how_limits_are_enforced(platform: Platform) -> None:
    body = {
        "service": "told",
        "image": "functions/alpine:latest",
        "envProcess": "cat",
        "limits": {"memory": "64Mi"},
    }
    with platform.client() as client:
        created = client.post("/system/functions", json=body)
        updated = client.put("/system/functions", json={**body, "envProcess": "cat -"})
        plain = client.put("/system/functions", json={**body, "limits": None})
    for resp in (created, updated):
        assert resp.status_code == 202, resp.text
        told = resp.headers["X-Pyfaas-Limits-Enforced"]
        assert told.startswith("memory: 64Mi requested, enforced "), told
    assert plain.status_code == 202
    assert "X-Pyfaas-Limits-Enforced" not in plain.headers


def test_a_64mi_function_cannot_take_300mi_and_its_status_says_how(platform: Platform) -> None:
    platform.deploy("small", limits={"memory": "64Mi"})
    how = enforced(platform, "small")
    # Whatever this machine offers: a cgroup, or the rlimit fallback.
    assert how.startswith("memory: 64Mi requested, enforced "), how
    resp = platform.run("small", allocate(300))
    assert resp.status_code in (500, 502), resp.text
    assert "300" not in resp.text
    assert_healthy(platform)


def test_without_cgroups_memory_is_a_data_rlimit_of_the_size_asked_for() -> None:
    with running_platform(PYFAAS_SANDBOX="required", PYFAAS_CGROUPS="false") as platform:
        platform.deploy("small", limits={"memory": "64Mi", "cpu": "500m"})
        how = enforced(platform, "small")
        assert "data rlimit (RLIMIT_DATA) of 64Mi for each process" in how, how
        assert "cpu: 500m requested, not enforced" in how, how
        refused = platform.run("small", allocate(300))
        assert refused.status_code == 500, refused.text
        assert "MemoryError" in refused.text
        # Well under the limit, the same function runs.
        allowed = platform.run("small", allocate(16))
        assert (allowed.status_code, allowed.text) == (200, "16\n")
        assert "limits: memory: 64Mi requested" in platform.logs("small")
    warnings = [line for line in platform.output[0].splitlines() if "NOT fully enforced" in line]
    assert len(warnings) == 1, platform.output
    assert "(PYFAAS_CGROUPS=false)" in warnings[0]
    assert "delegated cgroup" in warnings[0]


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
