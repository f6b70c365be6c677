"""The end-to-end tier: a real ``pyfaas serve`` driven through the real CLI.

Serve starts on port 0 and says its port ("pyfaas is serving on"); the CLI
is then pointed at it through ``OPENFAAS_URL``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_for

PYFAAS = str(Path(sys.executable).with_name("pyfaas"))
SERVING = re.compile(r"pyfaas is serving on (http://\S+:\d+)")


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
    home = tmp / "pyfaas-home"
    env = dict(os.environ)
    env.update(
        PYFAAS_HOME=str(home),
        OPENFAAS_CONFIG=str(tmp / "openfaas-config"),
        HOME=str(tmp),
        **(extra_env or {}),
    )
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PYFAAS, "serve", "--port", "0"],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    platform = Platform("", home, env, process, log)
    try:
        platform.url = _serving_url(platform)
        env["OPENFAAS_URL"] = platform.url
        wait_for(lambda: _healthy(platform.url) or process.poll() is not None, timeout=60)
    except AssertionError:
        stop_platform(platform)
        raise
    if process.poll() is not None:
        raise AssertionError(f"pyfaas serve exited early:\n{platform.serve_log()}")
    return platform


def _serving_url(platform: Platform) -> str:
    """The URL serve says it serves on, once it does; fails at once if serve exited."""
    found: list[str] = []

    def said() -> bool:
        if platform.process.poll() is not None:
            raise AssertionError(f"pyfaas serve exited early:\n{platform.serve_log()}")
        match = SERVING.search(platform.serve_log())
        if match:
            found.append(match.group(1))
        return match is not None

    wait_for(said, timeout=60, interval=0.05)
    return found[0]


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
