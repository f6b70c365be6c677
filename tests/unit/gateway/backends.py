"""The queue backends the steering routes are tested on: the memory twin, SQLite and NATS.

A test module opts in by defining its own ``queue`` fixture with
``params=BACKENDS`` over ``started_queue``, which the ``make_client`` fixture
of ``conftest`` then uses. SQLite runs a real file and its writer process,
NATS the session's real nats-server (a fresh stream namespace each test,
dropped after it), so
their cases carry the ``integration`` (and ``nats``) markers; without
nats-server the NATS cases are skipped, not failed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession

from pyfaas.queue import Queue, open_queue
from tests.helpers import NatsServer, nats_server_binary
from tests.nats_namespaces import drop_namespace

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite", marks=pytest.mark.integration),
    pytest.param(
        "nats",
        id="nats",
        marks=[
            pytest.mark.integration,
            pytest.mark.nats,
            pytest.mark.skipif(nats_server_binary() is None, reason="nats-server not installed"),
        ],
    ),
]


@asynccontextmanager
async def started_queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    """The started queue of the backend ``request.param`` names, closed on leaving."""
    kind: str = request.param
    queue: Queue
    server: NatsServer | None = None
    namespace = f"gw{uuid.uuid4().hex[:10]}"
    if kind == "nats":
        from pyfaas.queue.backends.nats import NatsQueue

        server = request.getfixturevalue("nats_server")
        queue = NatsQueue(server.url, namespace=namespace)
    else:
        queue = open_queue("memory://" if kind == "memory" else f"sqlite://{tmp_path / 'q.db'}")
    await queue.start()
    try:
        yield queue
    finally:
        await queue.close()
        if server is not None:
            await drop_namespace(server.url, namespace)


async def submit(client: ClientSession, function: str = "echo", **headers: str) -> str:
    """An asynchronous call of ``function`` through the gateway; its call id."""
    resp = await client.post(f"/async-function/{function}", data=b"x", headers=headers)
    assert resp.status == 202, await resp.text()
    return resp.headers["X-Call-Id"]
