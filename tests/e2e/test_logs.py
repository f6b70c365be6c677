"""``PYFAAS_LOG_FORMAT=json pyfaas serve``: serve, the gateway and the queue-worker write
one JSON object per event, and ``pyfaas logs`` reads the platform's own logs back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Platform, start_platform, stop_platform
from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def json_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    instance = start_platform(
        tmp_path_factory.mktemp("json-logs"), extra_env={"PYFAAS_LOG_FORMAT": "json"}
    )
    yield instance
    stop_platform(instance)


def _objects(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_line_on_the_terminal_is_a_json_object(json_platform: Platform) -> None:
    wait_for(lambda: "Starting queue-worker" in json_platform.serve_log(), timeout=30)
    records = _objects(json_platform.serve_log())
    components = {r["component"] for r in records}
    assert {"serve", "gateway", "queue-worker"} <= components
    for record in records:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["time"])
        assert record["msg"]
    assert any(r["msg"].startswith("Listening on http://") for r in records)


@pytest.mark.parametrize("component", ["gateway", "queue-worker"])
def test_pyfaas_logs_reads_the_platforms_own(json_platform: Platform, component: str) -> None:
    for namespace in ((), ("-n", "openfaas")):
        shown = json_platform.cli("logs", component, *namespace, "--tail=false", "-o", "json")
        texts = [m["text"] for m in _objects(shown.stdout.decode())]
        assert texts
        assert all(json.loads(t)["component"] == component for t in texts)


def test_a_build_the_gateway_runs_shows_in_its_log(json_platform: Platform) -> None:
    # As faas-cli (or another machine's pyfaas) deploys: the gateway builds the store image.
    answer = httpx.post(
        f"{json_platform.url}/system/functions",
        json={"service": "nap", "image": "ghcr.io/openfaas/sleep:latest"},
        auth=json_platform.auth(),
        timeout=120,
    )
    assert answer.status_code == 202, answer.text

    def built() -> bool:
        shown = json_platform.cli("logs", "gateway", "--tail=false", "-o", "json").stdout
        messages = [json.loads(m["text"])["msg"] for m in _objects(shown.decode())]
        return (
            "Building ghcr.io/openfaas/sleep:latest: Image: ghcr.io/openfaas/sleep:latest"
            " built." in messages
        )

    wait_for(built, timeout=60, interval=0.5)


def test_logs_of_an_unknown_function_say_so(json_platform: Platform) -> None:
    for follow in ("--tail=false", "--tail"):
        done = json_platform.cli("logs", "nope", follow, check=False)
        assert done.returncode == 1
        assert done.stderr.decode() == "Error: function nope.openfaas-fn not found\n"
