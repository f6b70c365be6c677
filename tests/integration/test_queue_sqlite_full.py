"""The SQLite queue on a filesystem that fills up: 503s that say so, nothing lost, recovery.

The queue's file lives on a 2 MiB tmpfs of the test's own, filled with a
file until the kernel says ENOSPC; the test needs root (``mount``) and skips
where mounting is refused.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from pyfaas.credentials import Credentials
from pyfaas.errors import QueueUnavailable
from pyfaas.gateway.listener import GatewayServer
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Outcome
from pyfaas.queue.backends.sqlite import SqliteQueue
from tests.factories import deployment, queued_call

pytestmark = pytest.mark.integration
FULL = "queue storage is full"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until its filesystem has no room left."""
    path = directory / "fill"
    with contextlib.suppress(OSError), path.open("wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 65536)
    return path


@pytest.fixture
async def queue(small_fs: Path) -> AsyncIterator[SqliteQueue]:
    queue = SqliteQueue(str(small_fs / "queue.db"))
    await queue.start()
    yield queue
    await queue.close()


@pytest.fixture
async def client(queue: SqliteQueue) -> AsyncIterator[ClientSession]:
    """A gateway in this process, with ``echo`` deployed, on ``queue``."""
    provider = MemoryProvider(lambda name, ns: Endpoint(port=9, replica=f"{name}-0"))
    await provider.deploy(deployment("echo"), "openfaas-fn")
    settings = GatewaySettings(max_async_body=64 * 1024, autoscale=False)
    gateway = GatewayServer(settings, provider, queue, Credentials("admin", "x"), grace=1.0)
    port = await gateway.start("127.0.0.1", 0)
    try:
        async with ClientSession(f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        await gateway.close()


async def drain(queue: SqliteQueue) -> list[bytes]:
    bodies = []
    while deliveries := await queue.claim(limit=100, lease=30, wait=0.2):
        for delivery in deliveries:
            bodies.append(delivery.call.body)
            await queue.ack(delivery, Outcome(status_code=200))
    return bodies


async def test_a_full_disk_is_a_503_that_says_so_and_loses_nothing(
    small_fs: Path, queue: SqliteQueue, client: ClientSession
) -> None:
    accepted: list[bytes] = []
    for i in range(20):
        body = f"early-{i}".encode() * 50
        async with client.post("/async-function/echo", data=body) as resp:
            assert resp.status == 202
        accepted.append(body)

    filler = fill(small_fs)
    refusals = []
    for i in range(300):  # what the WAL holds already may take a few more first
        body = f"full-{i}".encode() * 50
        async with client.post("/async-function/echo", data=body) as resp:
            assert resp.status in (202, 503)
            if resp.status == 202:
                accepted.append(body)
                continue
            refusals.append(await resp.text())
            if len(refusals) >= 3:
                break
    assert refusals, "a full disk refused no submission"
    for text in refusals:
        assert FULL in text
        assert text.count("\n") == 1  # one line

    filler.unlink()
    async with client.post("/async-function/echo", data=b"after") as resp:
        assert resp.status == 202
    accepted.append(b"after")
    bodies = await drain(queue)
    assert sorted(bodies) == sorted(accepted)


async def test_puts_fail_while_full_and_work_again_when_room_returns(
    small_fs: Path, queue: SqliteQueue
) -> None:
    for i in range(10):
        assert await queue.put(queued_call(f"a{i}", body=b"x" * 1000))
    filler = fill(small_fs)
    stored = 0  # what the WAL holds already may take a few more first
    refusal: QueueUnavailable | None = None
    while refusal is None and stored < 300:
        try:
            await queue.put(queued_call(f"b{stored}", body=b"y" * 1000))
        except QueueUnavailable as exc:
            refusal = exc
        else:
            stored += 1
    assert refusal is not None
    assert FULL in str(refusal)
    with pytest.raises(QueueUnavailable, match=FULL):
        await queue.put(queued_call("refused", body=b"z" * 1000))
    filler.unlink()
    assert await queue.put(queued_call("later"))
    assert await queue.record("refused") is None
    ids = set()
    while deliveries := await queue.claim(limit=100, lease=30, wait=0.2):
        for delivery in deliveries:
            ids.add(delivery.call.call_id)
            await queue.ack(delivery, Outcome(status_code=200))
    expected = {f"a{i}" for i in range(10)} | {f"b{i}" for i in range(stored)} | {"later"}
    assert ids == expected
