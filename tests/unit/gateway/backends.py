"""The queue backends the steering routes are tested on: the memory twin, and SQLite.

A test module opts in by defining its own ``queue`` fixture with
``params=BACKENDS`` over ``started_queue``, which the ``make_client`` fixture
of ``conftest`` then uses. SQLite runs a real file and its writer process,
so its cases carry the ``integration`` marker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from pyfaas.queue import Queue, open_queue

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite", marks=pytest.mark.integration),
]


@asynccontextmanager
async def started_queue(kind: str, tmp_path: Path) -> AsyncIterator[Queue]:
    url = "memory://" if kind == "memory" else f"sqlite://{tmp_path / 'queue.db'}"
    queue = open_queue(url)
    await queue.start()
    try:
        yield queue
    finally:
        await queue.close()
