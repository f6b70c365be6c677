"""The queue fixtures of the contract suites: one fresh queue per test, on every backend.

``kind`` parametrises a test over the memory twin, a real SQLite file and a
real nats-server with JetStream; ``opener`` opens handles onto that one
queue (each a separate client of it, or the same object for memory), and
``write_foreign`` writes beside the queue as another program could.
``clock`` is the time the test and its queue share: virtual for the memory
twin (a lease running out or a delay passing takes no real time), the real
one for the real backends; a test sleeps and reads the time through it.
"""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import pytest

from pyfaas.queue import Queue
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.backends.nats import NatsNames
from tests.clock import RealClock, SharedClock, VirtualClock
from tests.helpers import NatsServer, nats_server_binary
from tests.nats_namespaces import drop_namespace

Opener = Callable[[], Awaitable[Queue]]
# Writes a message that is not a call where the backend keeps its calls, as
# another program could; None where no other program can (memory).
ForeignWriter = Callable[[bytes], Awaitable[None]] | None
# A real file and a real server are the integration tier; without nats-server
# the NATS runs are skipped, not failed.
BACKENDS = [
    "memory",
    pytest.param("sqlite", marks=pytest.mark.integration),
    pytest.param(
        "nats",
        marks=[
            pytest.mark.integration,
            pytest.mark.nats,
            pytest.mark.skipif(nats_server_binary() is None, reason="nats-server not installed"),
        ],
    ),
]
_counter = itertools.count()


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def clock(kind: str) -> SharedClock:
    return VirtualClock() if kind == "memory" else RealClock()


@pytest.fixture
def namespace() -> str:
    return f"t{next(_counter)}{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def opener(
    kind: str, namespace: str, clock: SharedClock, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Opener]:
    """Opens handles onto one fresh queue; each handle is a separate client of it."""
    handles: list[Queue] = []
    shared = MemoryQueue(clock)

    async def open_handle() -> Queue:
        queue: Queue
        if kind == "memory":
            queue = shared  # one process: every "client" is the same object
        elif kind == "sqlite":
            from pyfaas.queue.backends.sqlite import SqliteQueue

            queue = SqliteQueue(str(tmp_path / "queue.db"))
        else:
            from pyfaas.queue.backends.nats import NatsQueue

            server: NatsServer = request.getfixturevalue("nats_server")
            queue = NatsQueue(server.url, namespace=namespace)
        await queue.start()
        handles.append(queue)
        return queue

    yield open_handle
    for handle in handles:
        await handle.close()
    if kind == "nats":
        server = request.getfixturevalue("nats_server")
        await drop_namespace(server.url, namespace)


@pytest.fixture
async def queue(opener: Opener) -> Queue:
    return await opener()


@pytest.fixture
async def write_foreign(
    kind: str, namespace: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ForeignWriter]:
    """A raw write beside the queue: a stray publish, a row made with sqlite3."""
    if kind == "sqlite":

        async def write_row(payload: bytes) -> None:
            with sqlite3.connect(tmp_path / "queue.db") as conn:
                found = conn.execute(
                    "INSERT INTO calls (call_id, payload, function, namespace, state, submitted_at)"
                    " VALUES (?, ?, '', '', 'queued', 0) RETURNING id",
                    (f"foreign-{uuid.uuid4().hex}", payload),
                ).fetchone()
                conn.execute("INSERT INTO queue (call, due) VALUES (?, 0)", (found[0],))

        yield write_row
    elif kind == "nats":
        server: NatsServer = request.getfixturevalue("nats_server")
        nc = await nats.connect(server.url)

        async def publish(payload: bytes) -> None:
            await nc.jetstream().publish(NatsNames.for_namespace(namespace).subject, payload)

        yield publish
        await nc.close()
    else:
        yield None
