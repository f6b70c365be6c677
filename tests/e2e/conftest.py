"""The end-to-end tier: a real ``pyfaas serve`` driven through the real CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port, wait_for

PYFAAS = str(Path(sys.executable).with_name("pyfaas"))


@dataclass
class Platform:
    url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def cli(
        self, *args: str, stdin: bytes = b"", cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``pyfaas ARGS`` as a user would, against this platform."""
        done = subprocess.run(
            [PYFAAS, *args],
            input=stdin,
            capture_output=True,
            env=self.env,
            cwd=cwd,
            timeout=300,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"pyfaas {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout.decode(errors='replace')}\n{done.stderr.decode(errors='replace')}"
            )
        return done

    def auth(self) -> tuple[str, str]:
        creds = self.home / "credentials"
        return (
            (creds / "basic-auth-user").read_text().strip(),
            (creds / "basic-auth-password").read_text().strip(),
        )

    def serve_log(self) -> str:
        return self.log.read_text(errors="replace")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_platform(tmp: Path, extra_env: dict[str, str] | None = None) -> Platform:
    port = free_port()
    home = tmp / "pyfaas-home"
    env = dict(os.environ)
    env.update(
        PYFAAS_HOME=str(home),
        OPENFAAS_URL=f"http://127.0.0.1:{port}",
        OPENFAAS_CONFIG=str(tmp / "openfaas-config"),
        HOME=str(tmp),
        **(extra_env or {}),
    )
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PYFAAS, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    platform = Platform(f"http://127.0.0.1:{port}", home, env, process, log)
    try:
        wait_for(lambda: _healthy(platform.url) or process.poll() is not None, timeout=60)
    except AssertionError:
        stop_platform(platform)
        raise
    if process.poll() is not None:
        raise AssertionError(f"pyfaas serve exited early:\n{platform.serve_log()}")
    return platform


def stop_platform(platform: Platform) -> None:
    if platform.process.poll() is None:
        platform.process.send_signal(signal.SIGTERM)
        try:
            platform.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(platform.process.pid, signal.SIGKILL)
            platform.process.wait()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform per test module, with its own port and state directory."""
    instance = start_platform(tmp_path_factory.mktemp("platform"))
    yield instance
    stop_platform(instance)
