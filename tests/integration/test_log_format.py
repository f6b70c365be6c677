"""PYFAAS_LOG_FORMAT=json in real processes: the watchdog's lines are JSON objects, and
a bad value stops a process at start with one line naming it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.test_watchdog import WatchdogProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[WatchdogProcess]]:
    procs: list[WatchdogProcess] = []
    yield procs
    for proc in procs:
        proc.stop()


def test_the_watchdog_logs_json_lines(tmp_path: Path, started: list[WatchdogProcess]) -> None:
    env = {"fprocess": "cat", "PYFAAS_LOG_FORMAT": "json", "PYFAAS_WATCHDOG_PROCESSES": "1"}
    proc = WatchdogProcess(env, tmp_path)
    started.append(proc)
    wait_for(lambda: proc.logged("Listening on port: ") or proc.proc.poll() is not None)
    listening = next(json.loads(x) for x in proc.lines if "Listening on port: " in x)
    proc.port = int(listening["msg"].rsplit(" ", 1)[1])
    proc.wait_healthy()
    assert httpx.post(proc.url(), content=b"hi", timeout=10).text == "hi"
    # The call's line is written after its answer: wait for it before stopping.
    wait_for(lambda: proc.logged("Wrote 2 Bytes"), timeout=10)
    proc.stop()
    records = [json.loads(line) for line in proc.lines if line.strip()]
    messages = [r["msg"] for r in records]
    assert all(r["component"] == "watchdog" for r in records)
    assert any(m.startswith("Listening on port: ") for m in messages)
    assert any(m.startswith("Wrote 2 Bytes") for m in messages)


@pytest.mark.parametrize("module", ["pyfaas.watchdog", "pyfaas.gateway", "pyfaas.worker"])
def test_a_bad_format_stops_the_process(tmp_path: Path, module: str) -> None:
    env = {
        **os.environ,
        "PYFAAS_LOG_FORMAT": "xml",
        "PYFAAS_HOME": str(tmp_path),
        "PYFAAS_QUEUE": "memory://",
        "fprocess": "cat",
        "port": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert b"PYFAAS_LOG_FORMAT: 'xml'" in done.stdout + done.stderr
