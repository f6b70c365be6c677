"""The parts of the fault suite: a NATS cluster of real nodes, ``pyfaas serve`` hosts, load.

``Layout`` says where everything runs: each host in its own network
namespace (``tests.integration.netns``), the NATS nodes and the test's
servers on the host side of the namespaces' veth pairs; or, where
namespaces cannot be made, every host on a loopback address of its own
(127.0.0.2, .3, ...). ``NatsNode`` is one nats-server of a clustered
JetStream that can be killed with SIGKILL and started again on its ports
and store. ``ServeHost`` is one ``pyfaas serve --cluster`` with its own
state directory, killed whole (every process of its tree). ``SyncLoad``
calls a function synchronously without retrying, keeping every failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client

from tests import proctree
from tests.helpers import nats_server_binary, port_open, wait_for

PYFAAS = [sys.executable, "-c", "from pyfaas.cli.main import main; main()"]
NAMESPACE_PORT = 8080


@dataclass(frozen=True)
class Place:
    """Where one host runs: its command prefix, the address it binds and is reached at."""

    prefix: list[str]
    bind: str
    address: str
    port: int


@dataclass(frozen=True)
class Layout:
    kind: str  # "netns" or "loopback"
    hosts: list[Place]
    nats_addresses: list[str]  # one per NATS node
    server_address: str  # where the test's own servers (the callback receiver) listen


def free_port_on(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


class NatsNode:
    """One node of a JetStream cluster on a fixed client and route port."""

    def __init__(self, directory: Path, index: int, addresses: list[str], routes: list[int]):
        binary = nats_server_binary()
        if binary is None:
            raise RuntimeError("nats-server is not installed")
        self.name = f"n{index}"
        self.address = addresses[index]
        self.port = free_port_on(self.address)
        self.url = f"nats://{self.address}:{self.port}"
        peers = ",".join(f"nats://{addresses[i]}:{p}" for i, p in enumerate(routes) if i != index)
        self.cmd = [
            binary, "-a", self.address, "-p", str(self.port), "-js", "-sd", str(directory),
            "--server_name", f"n{index}", "--cluster_name", "pyfaas-faults",
            "--cluster", f"nats://{self.address}:{routes[index]}", "--routes", peers,
        ]  # fmt: skip
        self.log = directory.parent / f"nats-n{index}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=out)
        wait_for(lambda: port_open(self.port, self.address), timeout=10)

    def kill(self) -> None:
        """SIGKILL: no lame-duck mode, no leadership handed over."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def start_nats_cluster(root: Path, addresses: list[str]) -> list[NatsNode]:
    routes = [free_port_on(a) for a in addresses]
    nodes = []
    for index in range(len(addresses)):
        (root / f"n{index}").mkdir(parents=True)
        nodes.append(NatsNode(root / f"n{index}", index, addresses, routes))
    for node in nodes:
        node.start()
    return nodes


def wait_jetstream(urls: list[str], timeout: float = 30.0) -> None:
    """Until the cluster's JetStream places a stream on every node (all its peers are known)."""

    async def ready() -> bool:
        nc = Client()

        async def quiet(exc: Exception) -> None:
            """Refusals while the nodes come up are expected."""

        try:
            await nc.connect(servers=urls, connect_timeout=1, max_reconnect_attempts=1,
                             error_cb=quiet)  # fmt: skip
            js = nc.jetstream(timeout=2)
            await js.add_stream(name="PROBE", subjects=["probe"], num_replicas=len(urls))
            await js.delete_stream("PROBE")
            return True
        except Exception:
            return False
        finally:
            if nc.is_connected:
                await nc.close()

    wait_for(lambda: asyncio.run(ready()), timeout=timeout, interval=0.3)


class ServeHost:
    """One ``pyfaas serve --cluster`` host: its own state directory, place and name."""

    def __init__(
        self, root: Path, name: str, place: Place, urls: list[str], key_file: Path
    ) -> None:
        self.name = name
        self.root = root / name
        self.root.mkdir(parents=True)
        self.home = self.root / "home"
        self.place = place
        self.url = f"http://{place.address}:{place.port}"
        self.log = self.root / "serve.log"
        self.argv = [
            *place.prefix, *PYFAAS, "serve", "--bind", place.bind, "--port", str(place.port),
            "--home", str(self.home), "--cluster", ",".join(urls),
            "--cluster-key-file", str(key_file),
        ]  # fmt: skip
        self.env = {
            **os.environ,
            "PYFAAS_AUTOSCALE": "false",
            "PYFAAS_SANDBOX": "off",
            "PYFAAS_REPLICA_STOP_TIMEOUT": "2s",
            "PYFAAS_CLUSTER_NAME": name,
            "PYFAAS_CLUSTER_ADDRESS": self.url,
            "PYFAAS_CLUSTER_KV_REPLICAS": "3",
            "PYFAAS_CLUSTER_RESYNC": "5s",
            # A killed worker's calls come back to the others within seconds.
            "ack_wait": "5s",
            "grace_period": "2s",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"----- start {self.starts + 1} -----\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        self.starts += 1

    def wait_serving(self, timeout: float = 60.0) -> None:
        def serving() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"host {self.name} exited:\n{self.output()[-3000:]}")
            return self.output().count("pyfaas is serving on") >= self.starts

        try:
            wait_for(serving, timeout=timeout, interval=0.1)
        except AssertionError as err:
            # What the host was doing instead is the only clue a CI failure leaves.
            raise AssertionError(
                f"host {self.name} not serving within {timeout}s:\n{self.output()[-3000:]}"
            ) from err

    def kill_tree(self) -> list[str]:
        """SIGKILL every process of the host at once; the command lines of any left after."""
        assert self.proc is not None
        top = proctree.identity(self.proc.pid)
        tree = ([top] if top else []) + proctree.descendants(self.proc.pid)
        for pid, _ in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return proctree.survivors(tree, within=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def auth(self) -> tuple[str, str]:
        creds = self.home / "credentials"
        user = (creds / "basic-auth-user").read_text().strip()
        return user, (creds / "basic-auth-password").read_text().strip()

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("auth", self.auth())
        return httpx.request(method, f"{self.url}{path}", timeout=10, **kwargs)

    def answers(self, name: str, body: bytes, expected: bytes) -> bool:
        try:
            got = httpx.post(f"{self.url}/function/{name}", content=body, timeout=10)
        except httpx.HTTPError:
            return False
        return got.status_code == 200 and got.content == expected

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class SyncLoad:
    """Synchronous calls to one function through some hosts, one thread each, never retried."""

    def __init__(self, urls: Sequence[str], function: str, timeout: float = 30.0) -> None:
        self._urls = list(urls)
        self._function = function
        self._timeout = timeout
        self._stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(u,)) for u in self._urls]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _run(self, url: str) -> None:
        with httpx.Client(base_url=url, timeout=self._timeout) as client:
            count = 0
            while not self._stop.is_set():
                count += 1
                body = f"{url} {count}".encode()
                started = time.monotonic()
                try:
                    got = client.post(f"/function/{self._function}", content=body)
                    failed = (
                        None
                        if got.status_code == 200 and got.content == body
                        else (f"{got.status_code} {got.text[:80]!r}")
                    )
                except httpx.HTTPError as exc:
                    failed = repr(exc)
                with self._lock:
                    if failed is None:
                        self.ok += 1
                    else:
                        took = time.monotonic() - started
                        self.failures.append(f"{url} call {count}: {failed} after {took:.1f}s")
                time.sleep(0.05)


class AsyncLoad:
    """Asynchronous calls through some hosts in turn, from one thread, until stopped."""

    def __init__(self, submitter: Any, urls: Sequence[str], function: str) -> None:
        self._submitter = submitter
        self._urls = list(urls)
        self._function = function
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._began = time.monotonic()
        # Each call's id: the host it went through and when (seconds into the load).
        self.sent: dict[str, tuple[str, float]] = {}

    def start(self) -> None:
        self._began = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            url = self._urls[turn % len(self._urls)]
            at = time.monotonic() - self._began
            self._submitter.submit(url, self._function)
            # This thread alone submits: the last id attempted is this call's.
            self.sent[self._submitter.attempted[-1]] = (url, round(at, 1))
            turn += 1
            time.sleep(0.03)
