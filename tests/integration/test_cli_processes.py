"""The ``pyfaas`` entry point as a real process: the queue-worker's flags reach the worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pyfaas import credentials
from pyfaas.paths import StatePaths
from tests.helpers import wait_for

pytestmark = pytest.mark.integration
PYFAAS = [sys.executable, "-c", "from pyfaas.cli.main import main; main()"]


def test_queue_worker_flags_override_the_environment(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path / "home").ensure()
    credentials.ensure(paths)
    queue = f"sqlite://{tmp_path / 'queue.db'}"
    env = {**os.environ, "PYFAAS_HOME": str(paths.home), "PYFAAS_QUEUE": "memory://"}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *PYFAAS,
                "queue-worker",
                "--queue",
                queue,
                "--gateway",
                "127.0.0.1:9",
                "--max-inflight",
                "3",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: "Starting queue-worker" in log.read_text(), timeout=20)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert "Concurrency: 3" in text
    assert queue in text
    assert "http://127.0.0.1:9" in text


def test_bad_flags_fail_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYFAAS_HOME": str(tmp_path / "home"), "OPENFAAS_URL": "127.0.0.1:9"}
    result = subprocess.run(
        [*PYFAAS, "invoke", "fn", "-H", "no separator"],
        env=env,
        input=b"",
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [
        "Error: --header: 'no separator' must be 'Name: value' or Name=value"
    ]
    down = subprocess.run([*PYFAAS, "list"], env=env, capture_output=True, timeout=30)
    assert down.returncode == 1
    assert down.stderr.decode() == (
        "Error: cannot connect to http://127.0.0.1:9: is the gateway running?\n"
    )
