"""A real gateway process with the local provider, its state outside ``/tmp``.

The state directory and the fake user home live under ``/var/tmp`` because
a replica's ``/tmp`` is its own: a state directory under the host's ``/tmp``
would be hidden by that alone, and the tests would not prove the tmpfs that
hides ``$PYFAAS_HOME`` and ``~`` in production.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import port_open, wait_for

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed"
)

PYTHON = sys.executable
SHELL = "/bin/sh"


@dataclass
class Platform:
    root: Path
    port: int
    proc: subprocess.Popen[str]
    auth: tuple[str, str] = ("", "")
    output: list[str] = field(default_factory=list)
    said: str = ""  # its output up to the line that names its port

    @property
    def home(self) -> Path:
        return self.root / "state"

    @property
    def user_home(self) -> Path:
        return self.root / "user"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("auth", self.auth)
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def deploy(self, name: str, fprocess: str = SHELL, **fields: Any) -> None:
        body = {"service": name, "image": "functions/alpine:latest", "envProcess": fprocess}
        body.update(fields)
        with self.client() as client:
            resp = client.post("/system/functions", json=body)
            assert resp.status_code in (200, 202), resp.text
        self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 20.0) -> None:
        def ready() -> bool:
            with self.client() as client:
                resp = client.get(f"/system/function/{name}")
                return resp.status_code == 200 and resp.json().get("availableReplicas", 0) > 0

        wait_for(ready, timeout=timeout, interval=0.05)

    def run(self, name: str, script: str, timeout: float = 30.0) -> httpx.Response:
        """Invoke ``name`` (a function whose fprocess is ``sh``) with ``script`` as its body."""
        with httpx.Client(base_url=self.url, timeout=timeout) as client:
            return client.post(f"/function/{name}", content=script.encode())

    def logs(self, name: str) -> str:
        with self.client() as client:
            resp = client.get("/system/logs", params={"name": name, "follow": "false"})
        return resp.text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self.output.append(self.said + (out or ""))


def said_port(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """The port a gateway started on port 0 says it listens on, and its output until then."""
    assert proc.stdout is not None
    lines: list[str] = []
    while line := proc.stdout.readline():
        lines.append(line)
        if match := re.search(r"Listening on http://\S+:(\d+)", line):
            return int(match.group(1)), "".join(lines)
    raise AssertionError(f"the gateway exited before it listened:\n{''.join(lines)}")


@contextmanager
def running_platform(**env: str) -> Iterator[Platform]:
    root = Path(tempfile.mkdtemp(prefix="pyfaas-security-", dir="/var/tmp"))
    # Searchable, so the unprivileged function user can reach the scripts in it.
    root.chmod(0o755)
    (root / "user" / ".openfaas").mkdir(parents=True)
    (root / "user").chmod(0o700)
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "user"),
        "PYFAAS_HOME": str(root / "state"),
        "PYFAAS_PORT": "0",  # the gateway chooses its port and says which
        "PYFAAS_QUEUE": "memory://",
        "PYFAAS_REPLICA_STOP_TIMEOUT": "2s",
        **env,
    }
    proc = subprocess.Popen(
        [PYTHON, "-m", "pyfaas.gateway"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    platform = Platform(root=root, port=0, proc=proc)
    try:
        platform.port, platform.said = said_port(proc)
        wait_for(lambda: port_open(platform.port) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.communicate()[0]
        credentials = root / "state" / "credentials"
        platform.auth = (
            (credentials / "basic-auth-user").read_text().strip(),
            (credentials / "basic-auth-password").read_text().strip(),
        )
        yield platform
    finally:
        platform.stop()
        shutil.rmtree(root, ignore_errors=True)
