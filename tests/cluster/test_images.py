"""Images travel with the deploy: ``pyfaas up -g URL`` from a CLI whose image store is elsewhere.

The CLI builds a python3-http function (an image with its own venv) into its
own ``PYFAAS_HOME``; the gateways are ``pyfaas serve`` processes with state
directories of their own. On one host, ``up`` uploads the image and the
function runs there. In a cluster of two hosts over one nats-server, the
image pushed through host A is fetched by host B from the object store,
which then runs the function too; a rebuilt image under the same tag rolls
out to both with the next ``up``; an unchanged image is not sent again.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.image_archive import recorded
from pyfaas.images import ImageStore
from pyfaas.paths import StatePaths
from tests.cluster.test_two_hosts import PYFAAS, SEEN_WITHIN, Host, answers
from tests.helpers import NatsServer, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.nats, pytest.mark.timeout(240)]

IMAGE = "alex/greeter:latest"


class Laptop:
    """A CLI with its own home (image store), faas-cli config and project directory."""

    def __init__(self, root: Path) -> None:
        self.root = root / "laptop"
        self.project = self.root / "project"
        self.project.mkdir(parents=True)
        self.env = {
            **os.environ,
            "PYFAAS_HOME": str(self.root / "home"),
            "OPENFAAS_CONFIG": str(self.root / "openfaas"),
            "CI": "",
        }
        self.env.pop("OPENFAAS_URL", None)

    def run(self, *args: str, stdin: bytes | None = None) -> str:
        done = subprocess.run(
            [*PYFAAS, *args],
            cwd=self.project,
            env=self.env,
            input=stdin,
            capture_output=True,
            timeout=180,
            check=False,
        )
        output = done.stdout.decode() + done.stderr.decode()
        assert done.returncode == 0, output
        return output

    def login(self, host: Host) -> None:
        password = (host.home / "credentials" / "basic-auth-password").read_bytes()
        self.run("login", "-g", host.url, "-u", "admin", "--password-stdin", stdin=password)

    def new(self, greeting: str) -> None:
        if not (self.project / "greeter.yml").exists():
            self.run("new", "greeter", "--lang", "python3-http", "-p", "alex")
        handler = self.project / "greeter" / "handler.py"
        handler.write_text(
            f"def handle(event, context):\n    return {{'statusCode': 200, 'body': {greeting!r}}}\n"
        )

    @property
    def store(self) -> ImageStore:
        return ImageStore(StatePaths(self.root / "home").images)


def store_of(host: Host) -> ImageStore:
    return ImageStore(StatePaths(host.home).images)


@pytest.fixture
def laptop(tmp_path: Path) -> Laptop:
    return Laptop(tmp_path)


def test_up_to_a_gateway_with_its_own_state_dir_uploads_the_image(
    tmp_path: Path, laptop: Laptop
) -> None:
    host = Host(tmp_path, "remote", "", tmp_path / "no.key")
    host.argv = host.argv[: host.argv.index("--cluster")]  # one host, no cluster
    host.start()
    try:
        laptop.login(host)
        laptop.new("hello from the laptop")
        up = laptop.run("up", "-f", "greeter.yml", "-g", host.url)
        assert f"Image: {IMAGE} pushed" in up
        # Not a terminal: the upload's progress as plain lines, the last at 100%.
        assert re.search(r"^  [\d.]+ KiB / [\d.]+ KiB \(100%\)$", up, re.MULTILINE), up
        assert "Deployed. 202 Accepted." in up
        wait_for(lambda: answers(host, "greeter", b"", b"hello from the laptop"), timeout=60)
        # The host's own store holds it, its venv moved to the host's path.
        manifest = store_of(host).get(IMAGE)
        assert manifest is not None
        assert manifest.python == str(store_of(host).venv_dir(IMAGE) / "bin" / "python")
        assert recorded(store_of(host), IMAGE) == recorded(laptop.store, IMAGE)
        # Pushed again unchanged: asked, not sent.
        again = laptop.run("push", "-f", "greeter.yml", "-g", host.url)
        assert f"{host.url} has it" in again
        assert "Uploading" not in again
    finally:
        host.stop()


@pytest.fixture
def two_hosts(tmp_path: Path, cluster_nats: NatsServer) -> Iterator[list[Host]]:
    from pyfaas.cluster.secretbox import new_key

    key = tmp_path / "cluster.key"
    key.write_bytes(new_key())
    key.chmod(0o600)
    started = [Host(tmp_path, name, cluster_nats.url, key) for name in ("a", "b")]
    try:
        for host in started:
            host.start()
        yield started
    finally:
        for host in started:
            host.stop()


def test_an_image_pushed_through_one_host_runs_on_the_other(
    two_hosts: list[Host], laptop: Laptop
) -> None:
    a, b = two_hosts
    laptop.login(a)
    laptop.new("version one")
    up = laptop.run("up", "-f", "greeter.yml", "-g", a.url)
    assert f"Image: {IMAGE} pushed" in up
    # B never saw the laptop: it fetched the image from the cluster's object store.
    wait_for(lambda: answers(b, "greeter", b"", b"version one"), timeout=60)
    assert answers(a, "greeter", b"", b"version one")
    first = recorded(laptop.store, IMAGE)
    assert first is not None
    assert recorded(store_of(b), IMAGE) == first
    assert "Fetched image alex/greeter:latest" in b.output()

    # Rebuilt under the same tag: the next up rolls it out to both hosts.
    laptop.new("version two")
    laptop.run("up", "-f", "greeter.yml", "-g", a.url)
    second = recorded(laptop.store, IMAGE)
    assert second is not None
    assert second != first
    for host in (a, b):
        wait_for(lambda h=host: answers(h, "greeter", b"", b"version two"), timeout=SEEN_WITHIN)
    assert recorded(store_of(b), IMAGE) == second

    # Unchanged: the gateway says it has it, and nothing is sent.
    again = laptop.run("push", "-f", "greeter.yml", "-g", a.url)
    assert f"{a.url} has it" in again
    assert "Uploading" not in again
