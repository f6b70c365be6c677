"""The gateway process's sandbox modes: auto without bubblewrap warns, required refuses."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import httpx
import pytest

from pyfaas.naming import DEFAULT_NAMESPACE
from pyfaas.paths import StatePaths
from pyfaas.providers.local import LocalProvider, LocalProviderSettings
from pyfaas.types import FunctionDeployment
from tests.security.platform import PYTHON, needs_bwrap, running_platform

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


@needs_bwrap
async def test_a_sandboxed_replica_drains_on_stop(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        LocalProviderSettings.from_env({"PYFAAS_SANDBOX": "required"}),
        stop_timeout=5.0,
        unroute_delay=0.0,
    )
    provider = LocalProvider(StatePaths(tmp_path / "home").ensure(), settings)
    await provider.start()
    try:
        request = FunctionDeployment(service="drain", image="functions/alpine", envProcess="cat")
        await provider.deploy(request, DEFAULT_NAMESPACE)
        endpoint = await provider.resolve("drain", DEFAULT_NAMESPACE, 20.0)
        async with httpx.AsyncClient() as client:
            assert (await client.post(endpoint.base_url + "/", content=b"x")).text == "x"
    finally:
        await provider.close()
    lines = [m.text for m in provider.log_store.read(DEFAULT_NAMESPACE, "drain", 0, None, None)]
    # The watchdog inside got SIGTERM itself (bubblewrap does not pass it on).
    assert any("SIGTERM received" in line for line in lines), lines
    assert not any("killed" in line for line in lines), lines
