"""``python -m pyfaas.gateway`` as a real process: start, serve, authenticate, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import port_open, wait_for, wait_for_line

pytestmark = pytest.mark.integration


def test_gateway_process_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log = tmp_path / "gateway.log"
    env = {
        **os.environ,
        "PYFAAS_HOME": str(home),
        "PYFAAS_PORT": "0",  # the gateway binds a free port and says which
        "PYFAAS_QUEUE": "memory://",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyfaas.gateway"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        port = int(wait_for_line(log, r"Listening on http://127\.0\.0\.1:(\d+)").group(1))
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
        proc.wait(timeout=20)
    output = log.read_text(errors="replace")
    assert proc.returncode == 0, output
    assert f"Listening on http://127.0.0.1:{port}" in output
