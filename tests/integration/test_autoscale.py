"""OpenFaaS Pro's scaling modes and scale to zero on a real ``pyfaas serve``.

A real gateway process with its queue-worker, real replica processes
(classic watchdogs forking ``cat``, ``sleep`` or ``dd``), load from threads over
HTTP. The gateway's scale-down window is 3 s here (``PYFAAS_SCALE_DOWN_WINDOW``)
and each scale-to-zero function names a short ``zero-duration``, so every
step happens within seconds; the time limits are generous because the
machine is shared. The arithmetic is pinned in tests/unit/gateway/test_autoscale.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat._support import Load
from tests.e2e.conftest import Platform, start_platform, stop_platform
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NS = "openfaas-fn"
ALPINE = "docker.io/functions/alpine:latest"
PRO = {"com.openfaas.scale.target-proportion": "1", "com.openfaas.scale.min": "1"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    tmp: Path = tmp_path_factory.mktemp("autoscale")
    instance = start_platform(tmp, {"PYFAAS_SCALE_DOWN_WINDOW": "3s"})
    yield instance
    stop_platform(instance)


@pytest.fixture(scope="module")
def api(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.url, auth=platform.auth(), timeout=60) as client:
        yield client


def _deploy(api: httpx.Client, name: str, fprocess: str, labels: dict[str, str]) -> None:
    body = {"service": name, "image": ALPINE, "envProcess": fprocess, "labels": labels}
    response = api.post("/system/functions", json=body)
    assert response.status_code in (200, 202), response.text
    wait_for(lambda: _status(api, name).get("availableReplicas", 0) >= 1, 60, 0.1)


def _status(api: httpx.Client, name: str) -> dict[str, Any]:
    response = api.get(f"/system/function/{name}", params={"namespace": NS})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _replicas(api: httpx.Client, name: str) -> int:
    return int(_status(api, name).get("replicas", 0))


def _ready(api: httpx.Client, name: str) -> int:
    return int(_status(api, name).get("availableReplicas", 0))


def _delete(api: httpx.Client, name: str) -> None:
    response = api.request("DELETE", "/system/functions", json={"functionName": name})
    assert response.status_code in (200, 202), response.text


def test_rps_mode_scales_to_max_under_load_and_back_after_the_window(
    platform: Platform, api: httpx.Client
) -> None:
    name = "pro-rps"
    labels = {**PRO, "com.openfaas.scale.type": "rps", "com.openfaas.scale.target": "2"}
    _deploy(api, name, "cat", {**labels, "com.openfaas.scale.max": "3"})
    # About 10 calls a second against 2 per replica: 5 wanted, 3 at most.
    load = Load(platform.url, f"/function/{name}", workers=2, rate=5, seconds=90)
    try:
        wait_for(lambda: _replicas(api, name) == 3, timeout=60, interval=0.5)
        wait_for(lambda: _ready(api, name) == 3, timeout=60, interval=0.5)
        assert _replicas(api, name) == 3  # never above max
    finally:
        codes = load.stop()
    assert codes
    assert set(codes) == {200}
    stopped = time.monotonic()
    wait_for(lambda: _replicas(api, name) == 1, timeout=60, interval=0.5)
    # The rate falls over 10 s, and the count follows only after the 3 s window.
    assert time.monotonic() - stopped >= 3
    _delete(api, name)


def test_capacity_mode_scales_by_calls_in_flight(platform: Platform, api: httpx.Client) -> None:
    name = "pro-capacity"
    labels = {**PRO, "com.openfaas.scale.type": "capacity", "com.openfaas.scale.target": "2"}
    _deploy(api, name, "sleep 2", {**labels, "com.openfaas.scale.max": "3"})
    # Six callers, each waiting 2 s for every answer: about 6 in flight against 2 per
    # replica, so 3; their 3 calls a second alone would make 2 (the rps mode's count).
    load = Load(platform.url, f"/function/{name}", workers=6, rate=20, seconds=90)
    try:
        wait_for(lambda: _replicas(api, name) == 3, timeout=60, interval=0.5)
    finally:
        codes = load.stop()
    assert codes
    assert set(codes) == {200}
    wait_for(lambda: _replicas(api, name) == 1, timeout=60, interval=0.5)
    _delete(api, name)


def test_queue_mode_scales_up_for_a_backlog_of_async_calls(
    platform: Platform, api: httpx.Client
) -> None:
    name = "pro-queue"
    labels = {**PRO, "com.openfaas.scale.type": "queue", "com.openfaas.scale.target": "2"}
    _deploy(api, name, "sleep 1", {**labels, "com.openfaas.scale.max": "3"})
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        for _ in range(12):
            assert client.post(f"/async-function/{name}", content=b"x").status_code == 202
    # 12 calls waiting, 2 per replica: 6 wanted, 3 at most, long before the worker is through.
    wait_for(lambda: _replicas(api, name) == 3, timeout=60, interval=0.5)

    def drained() -> bool:
        rows = api.get("/system/queue").json().get("functions", [])
        return not any(r["function"] == f"{name}.{NS}" and r["queued"] + r["running"] for r in rows)

    wait_for(drained, timeout=120, interval=0.5)
    wait_for(lambda: _replicas(api, name) == 1, timeout=60, interval=0.5)
    _delete(api, name)


def test_cpu_mode_scales_by_the_replicas_cpu_use(platform: Platform, api: httpx.Client) -> None:
    name = "pro-cpu"
    labels = {**PRO, "com.openfaas.scale.type": "cpu", "com.openfaas.scale.target": "200"}
    # Each call copies 8 GB of zeros: up to a second or so: CPU time in the replica's processes.
    crunch = "dd if=/dev/zero of=/dev/null bs=1M count=8000"
    _deploy(api, name, crunch, {**labels, "com.openfaas.scale.max": "3"})
    # Two callers keep about a core busy against 200 millicores per replica.
    load = Load(platform.url, f"/function/{name}", workers=2, rate=20, seconds=120)
    try:
        wait_for(lambda: _replicas(api, name) == 3, timeout=90, interval=0.5)
    finally:
        codes = load.stop()
    assert codes
    assert set(codes) == {200}
    wait_for(lambda: _replicas(api, name) == 1, timeout=60, interval=0.5)
    _delete(api, name)


def _to_zero(api: httpx.Client, name: str) -> None:
    wait_for(lambda: _replicas(api, name) == 0, timeout=60, interval=0.5)
    wait_for(lambda: _ready(api, name) == 0, timeout=60, interval=0.5)


def test_an_idle_function_goes_to_zero_and_the_next_calls_are_held_not_failed(
    platform: Platform, api: httpx.Client
) -> None:
    name = "to-zero"
    labels = {"com.openfaas.scale.zero": "true", "com.openfaas.scale.zero-duration": "2s"}
    _deploy(api, name, "cat", labels)
    _to_zero(api, name)
    with httpx.Client(base_url=platform.url, timeout=60) as client:
        # Synchronous: the call waits for the replica it starts.
        answer = client.post(f"/function/{name}", content=b"woken")
        assert (answer.status_code, answer.content) == (200, b"woken")
        assert _replicas(api, name) >= 1
        _to_zero(api, name)
        # Asynchronous: the queue-worker's call through the gateway is held alike.
        accepted = client.post(f"/async-function/{name}", content=b"later")
        assert accepted.status_code == 202
        call_id = accepted.headers["X-Call-Id"]

    def settled() -> dict[str, Any] | None:
        record: dict[str, Any] = api.get(f"/system/calls/{call_id}").json()
        return record if record["state"] not in ("queued", "running", "retrying") else None

    wait_for(lambda: settled() is not None, timeout=90, interval=0.5)
    record = settled()
    assert record is not None
    assert record["state"] == "succeeded", record
    assert record["attempts"] == 1, record  # held, not failed and retried
    assert api.get(f"/system/calls/{call_id}/result").content == b"later"
    _delete(api, name)


def test_a_function_without_the_zero_label_is_never_idled(
    platform: Platform, api: httpx.Client
) -> None:
    name = "stays-up"
    _deploy(api, name, "cat", {"com.openfaas.scale.zero-duration": "1s"})
    time.sleep(5)  # time passing is the behaviour under test
    assert _replicas(api, name) == 1
    _delete(api, name)
