"""``python -m pyfaas.gateway`` as a real process: start, serve, authenticate, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, port_open, wait_for

pytestmark = pytest.mark.integration


def test_gateway_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    env = {
        **os.environ,
        "PYFAAS_HOME": str(home),
        "PYFAAS_PORT": str(port),
        "PYFAAS_QUEUE": "memory://",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyfaas.gateway"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: port_open(port), timeout=20)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").text == "OK"
        assert httpx.get(f"{base}/system/functions").status_code == 401
        user = (home / "credentials" / "basic-auth-user").read_text().strip()
        password = (home / "credentials" / "basic-auth-password").read_text().strip()
        resp = httpx.get(f"{base}/system/info", auth=(user, password))
        assert resp.status_code == 200
        assert resp.json()["version"]["release"]
        assert httpx.post(f"{base}/function/nope", content=b"x").status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert f"Listening on http://127.0.0.1:{port}" in output
