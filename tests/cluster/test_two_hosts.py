"""Two ``pyfaas serve --cluster`` hosts on one nats-server are one platform.

Each host has its own port (serve binds port 0 and says which) and state
directory. A function deployed through
host A is invocable through host B within seconds; a secret created on B is
read by a function deployed on A; a removal on B stops the function on A;
``GET /system/hosts`` lists both; a third host with another key refuses to
start with one line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyfaas.cluster.secretbox import new_key
from tests.helpers import CallbackReceiver, NatsServer, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.nats, pytest.mark.timeout(180)]

PYFAAS = [sys.executable, "-c", "from pyfaas.cli.main import main; main()"]
SEEN_WITHIN = 10.0  # generous: the platform's promise is 2 s, on an idle machine
SERVING = re.compile(r"pyfaas is serving on http://\S+:(\d+)")


class Host:
    def __init__(self, root: Path, name: str, nats: str, key_file: Path) -> None:
        self.root = root / name
        self.root.mkdir(parents=True)
        self.name = name
        self.home = self.root / "home"
        self.port = 0  # serve picks one; its "serving on" line says which
        self.log = self.root / "serve.log"
        self.argv = [
            *PYFAAS,
            "serve",
            "--port",
            "0",
            "--home",
            str(self.home),
            "--cluster",
            nats,
            "--cluster-key-file",
            str(key_file),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Host:
        env = {
            **os.environ,
            "PYFAAS_AUTOSCALE": "false",
            "PYFAAS_SANDBOX": "off",  # the function reads a script of the test's directory
            "PYFAAS_REPLICA_STOP_TIMEOUT": "2s",
            "PYFAAS_CLUSTER_NAME": self.name,
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=env, stdout=out, stderr=out, start_new_session=True
            )
        if wait:
            wait_for(self._serving, timeout=60, interval=0.1)
        return self

    def _serving(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"host {self.name} exited:\n{self.output()[-3000:]}")
        said = SERVING.search(self.output())
        if said:
            self.port = int(said.group(1))
        return said is not None

    @property
    def url(self) -> str:
        assert self.port, f"host {self.name} has not said its port yet: start it first"
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        creds = self.home / "credentials"
        auth = tuple(
            (creds / f).read_text().strip() for f in ("basic-auth-user", "basic-auth-password")
        )
        return httpx.request(method, f"{self.url}{path}", auth=auth, timeout=10, **kwargs)

    def invoke(self, name: str, body: bytes = b"") -> httpx.Response | None:
        try:
            return httpx.post(f"{self.url}/function/{name}", content=body, timeout=10)
        except httpx.HTTPError:
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.key"
    path.write_bytes(new_key())
    path.chmod(0o600)
    return path


@pytest.fixture
def hosts(tmp_path: Path, cluster_nats: NatsServer, key_file: Path) -> Iterator[list[Host]]:
    started = [Host(tmp_path, name, cluster_nats.url, key_file) for name in ("a", "b")]
    try:
        for host in started:
            host.start()
        yield started
    finally:
        for host in started:
            host.stop()


def answers(host: Host, name: str, body: bytes, expected: bytes) -> bool:
    response = host.invoke(name, body)
    return response is not None and response.status_code == 200 and response.content == expected


def test_a_deploy_through_one_host_is_invocable_through_the_other(hosts: list[Host]) -> None:
    a, b = hosts
    spec = {"service": "echo", "image": "functions/alpine:latest", "envProcess": "cat"}
    assert a.api("POST", "/system/functions", json=spec).status_code == 202
    wait_for(lambda: answers(b, "echo", b"through b", b"through b"), timeout=SEEN_WITHIN)
    assert answers(a, "echo", b"through a", b"through a")
    listed = [f["name"] for f in b.api("GET", "/system/functions").json()]
    assert listed == ["echo"]

    def both_listed() -> bool:
        found = b.api("GET", "/system/hosts").json()
        return sorted(h["name"] for h in found) == ["a", "b"]

    wait_for(both_listed, timeout=SEEN_WITHIN)
    cli = subprocess.run(
        [*PYFAAS, "hosts", "-g", a.url, "--json"],
        env={**os.environ, "PYFAAS_HOME": str(a.home)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr.decode()
    shown = {h["name"]: h for h in json.loads(cli.stdout)}
    assert sorted(shown) == ["a", "b"]
    assert shown["b"]["address"] == b.url

    # Removed through B: gone from A too.
    assert b.api("DELETE", "/system/functions", json={"functionName": "echo"}).status_code == 202

    def gone_from_a() -> bool:
        return a.api("GET", "/system/function/echo").status_code == 404

    wait_for(gone_from_a, timeout=SEEN_WITHIN)


def test_a_secret_made_on_one_host_is_read_by_a_function_on_the_other(
    hosts: list[Host], tmp_path: Path
) -> None:
    a, b = hosts
    secret = {"name": "token", "value": "s3cret-value"}
    assert b.api("POST", "/system/secrets", json=secret).status_code in (200, 201, 202)
    script = tmp_path / "read-secret.sh"
    script.write_text('cat "${PYFAAS_SECRETS_DIR:-/var/openfaas/secrets}/token"\n')

    # At once: A fetches the secret B just made before it deploys.
    spec = {
        "service": "reader",
        "image": "functions/alpine:latest",
        "envProcess": f"sh {script}",
        "secrets": ["token"],
    }
    deployed = a.api("POST", "/system/functions", json=spec)
    assert deployed.status_code == 202, deployed.text
    wait_for(lambda: answers(a, "reader", b"", b"s3cret-value"), timeout=SEEN_WITHIN)
    wait_for(lambda: answers(b, "reader", b"", b"s3cret-value"), timeout=SEEN_WITHIN)
    # Not in the clear in either host's log.
    assert "s3cret-value" not in a.output() + b.output()


def test_async_calls_through_either_host_run_on_the_shared_queue(hosts: list[Host]) -> None:
    a, b = hosts
    spec = {"service": "echo", "image": "functions/alpine:latest", "envProcess": "cat"}
    assert b.api("POST", "/system/functions", json=spec).status_code == 202
    wait_for(lambda: answers(a, "echo", b"x", b"x"), timeout=SEEN_WITHIN)
    receiver = CallbackReceiver()
    try:
        for host, body in ((a, b"via a"), (b, b"via b")):
            answer = httpx.post(
                f"{host.url}/async-function/echo",
                content=body,
                headers={"X-Callback-Url": receiver.url},
                timeout=10,
            )
            assert answer.status_code == 202, answer.text
        wait_for(lambda: len(receiver.received) == 2, timeout=60)
        assert sorted(body for _, body in receiver.received) == [b"via a", b"via b"]
    finally:
        receiver.close()
    # Both hosts' queue is the cluster's NATS, not a file of their own.
    assert not (a.home / "queue.db").exists()
    assert not (b.home / "queue.db").exists()


def test_a_host_with_another_key_refuses_to_start(
    hosts: list[Host], tmp_path: Path, cluster_nats: NatsServer
) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(new_key())
    intruder = Host(tmp_path, "x", cluster_nats.url, other)
    intruder.start(wait=False)
    assert intruder.proc is not None
    assert intruder.proc.wait(timeout=60) != 0
    lines = [line for line in intruder.output().splitlines() if "cluster key" in line]
    assert len(lines) == 1, intruder.output()
    assert "does not match" in lines[0]
    assert "pyfaas is serving" not in intruder.output()
