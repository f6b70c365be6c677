"""A fresh nats-server per test (the cluster's buckets have fixed names) and cluster keys."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from pyfaas.cluster.secretbox import new_key
from tests.helpers import NatsServer


@pytest.fixture
def cluster_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def js(cluster_nats: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = Client()

    async def quiet(exc: Exception) -> None:
        """A test that stops the server sees its errors in what it calls."""

    await nc.connect(cluster_nats.url, error_cb=quiet)
    try:
        yield nc.jetstream(timeout=5)
    finally:
        with contextlib.suppress(OSError):  # the server may be gone already
            await nc.close()


@pytest.fixture
def key() -> bytes:
    return new_key()
