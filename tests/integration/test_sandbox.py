"""The gateway process's sandbox modes: auto without bubblewrap warns, required refuses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.security.platform import PYTHON, running_platform

pytestmark = pytest.mark.integration


def test_auto_without_bubblewrap_warns_loudly_and_runs_unsandboxed() -> None:
    with running_platform(PYFAAS_SANDBOX="auto", PYFAAS_BWRAP="/nonexistent/bwrap") as platform:
        platform.deploy("plain")
        resp = platform.run("plain", "cat /proc/1/comm; echo $PYFAAS_SECRETS_DIR")
        assert resp.status_code == 200
        init, secrets_dir = resp.text.split()
        assert init != "bwrap"
        assert secrets_dir.startswith(str(platform.home))
        platform.stop()
    output = "".join(platform.output)
    warning = [line for line in output.splitlines() if "WARNING" in line]
    assert warning, output
    assert "UNSANDBOXED" in warning[0]
    assert "bubblewrap" in warning[0]


def test_off_runs_unsandboxed_without_a_warning() -> None:
    with running_platform(PYFAAS_SANDBOX="off") as platform:
        platform.deploy("plain", "cat")
        assert platform.run("plain", "x").text == "x"
        platform.stop()
    assert "WARNING" not in "".join(platform.output)


def test_required_without_bubblewrap_refuses_to_start(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYFAAS_HOME": str(tmp_path / "home"),
        "PYFAAS_SANDBOX": "required",
        "PYFAAS_BWRAP": "/nonexistent/bwrap",
        "PYFAAS_PORT": "0",
        "PYFAAS_QUEUE": "memory://",
    }
    result = subprocess.run(
        [PYTHON, "-m", "pyfaas.gateway"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "PYFAAS_SANDBOX" in result.stderr
    assert "bubblewrap" in result.stderr
