"""Fixtures shared by every tier of the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.paths import StatePaths
from tests.helpers import NatsServer


@pytest.fixture
def state(tmp_path: Path) -> StatePaths:
    """A fresh, private state directory (``PYFAAS_HOME``)."""
    return StatePaths(tmp_path / "home").ensure()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One real nats-server with JetStream for the whole session."""
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()
