"""A real ``pyfaas serve`` in its own session: started, asked over its API, read from ``/proc``.

``ServeProcess`` runs ``pyfaas serve`` on one port and state directory and
can start it again there after a kill. Its first start is on port 0 unless
told a port: serve binds a free one and says it ("pyfaas is serving on"),
and later starts ask for that same port again, so clients keep their URL.
Its output goes to ``root/serve.log``; ``tree`` reads the processes below
it, and ``stop`` kills whatever of them is still alive, so no test leaves a
replica behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import wait_for
from tests.proctree import Proc, alive, descendants

PYFAAS = [sys.executable, "-c", "from pyfaas.cli.main import main; main()"]
# Replicas stay as deployed, and stop within seconds at the end.
BASE_ENV = {"PYFAAS_AUTOSCALE": "false", "PYFAAS_REPLICA_STOP_TIMEOUT": "2s"}
SERVING = re.compile(r"pyfaas is serving on http://\S+:(\d+)")


class ServeProcess:
    """``pyfaas serve`` on one port and state directory, its output in ``root/serve.log``."""

    def __init__(
        self,
        root: Path,
        home: Path | None = None,
        queue: str | None = None,
        env: Mapping[str, str] | None = None,
        port: int = 0,
    ) -> None:
        self.root = root
        self.home = home or root / "home"
        self.queue = queue
        self.env = dict(env or {})
        self.port = port
        self.log = root / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.seen: list[Proc] = []  # every process ever found below serve: teardown kills them

    @property
    def url(self) -> str:
        assert self.port, "serve has not said its port yet: start it first"
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> ServeProcess:
        assert self.proc is None or self.proc.poll() is not None, "serve is already running"
        argv = [*PYFAAS, "serve", "--port", str(self.port), "--home", str(self.home)]
        if self.queue:
            argv += ["--queue", self.queue]
        env = {**os.environ, **BASE_ENV, **self.env}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=out, start_new_session=True
            )
        self.starts += 1
        wait_for(self._serving, timeout=timeout, interval=0.1)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _serving(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"pyfaas serve exited:\n{self.output()[-3000:]}")
        said = SERVING.findall(self.output())
        if len(said) < self.starts:
            return False
        self.port = int(said[self.starts - 1])
        return self.healthy()

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        creds = self.home / "credentials"
        names = ("basic-auth-user", "basic-auth-password")
        user, password = ((creds / name).read_text().strip() for name in names)
        return httpx.request(
            method, f"{self.url}{path}", auth=(user, password), timeout=10, **kwargs
        )

    def function_ready(self, name: str) -> bool:
        try:
            answer = self.api("GET", f"/system/function/{name}")
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("availableReplicas", 0) > 0

    def tree(self) -> list[Proc]:
        """The processes below serve now; each is remembered for ``stop``."""
        assert self.proc is not None
        below = descendants(self.proc.pid)
        self.seen.extend(p for p in below if p not in self.seen)
        return below

    def stop(self) -> int | None:
        """SIGTERM serve (SIGKILL after a minute), kill anything left below it; its exit code."""
        if self.proc is not None and self.proc.poll() is None:
            self.tree()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for proc in self.seen:
            if alive(proc):
                os.kill(proc[0], signal.SIGKILL)
        return self.proc.returncode if self.proc is not None else None
