"""Fixtures shared by every tier of the suite."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from pyfaas.paths import StatePaths
from tests.helpers import NatsServer
from tests.proctree import alive, boot_ticks, descendants, marked, survivors

# Set in the session's environment: every process a test starts inherits it.
SESSION_MARK = "PYFAAS_TEST_SESSION"
# Folders whose every test starts processes or servers of its own: the integration
# tier, whatever marks a new file there forgets.
INTEGRATION_FOLDERS = frozenset({"integration", "crash", "compat", "browser", "cluster"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put whole folders, and every test needing nats-server, in the integration tier.

    Runs before ``-m`` deselects, so ``make unit`` never collects them.
    """
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts if item.path.is_relative_to(root) else ()
        in_folder = len(parts) > 1 and parts[0] in INTEGRATION_FOLDERS
        if (in_folder or item.get_closest_marker("nats")) and not item.get_closest_marker(
            "integration"
        ):
            item.add_marker(pytest.mark.integration)


# The standard library's platform.processor() runs `uname -p` once and keeps the
# answer; asked here, before any test, a library that asks it (matplotlib, on
# import) starts no process inside a unit test.
platform.processor()


def _refuse_processes(nodeid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(
            f"{nodeid} starts a process in the unit tier: mark it integration"
            " (docs/architecture.md, Conventions)"
        )

    # Every way pyfaas and the tests start one: subprocess and asyncio's
    # subprocesses go through Popen._execute_child; the watchdog forks and spawns.
    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    for name in ("fork", "posix_spawn", "posix_spawnp"):
        monkeypatch.setattr(os, name, refuse)


@pytest.fixture(autouse=True)
def unit_tests_start_no_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test of the unit tier that starts a process fails, naming the marker it needs.

    Only while the test and its function-scoped fixtures run: what a wider
    fixture started before is not this test's doing.
    """
    node = request.node
    if node.get_closest_marker("integration") is None and node.get_closest_marker("e2e") is None:
        _refuse_processes(node.nodeid, monkeypatch)


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


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fail the run if a process a test started is still running after the last test.

    Set up first, so torn down last: after every other fixture has stopped
    what it started. A process counts when it still runs below pytest, or
    when it started during the session and its environment or command line
    holds this session's mark or its temporary directory (an orphan a killed
    test process left); those found are killed after being reported.
    """
    token = f"{SESSION_MARK}={uuid.uuid4().hex}"
    os.environ[SESSION_MARK] = token.partition("=")[2]
    since = boot_ticks() - 1
    base = str(tmp_path_factory.getbasetemp())
    yield
    left = marked((token, base), since, exclude={os.getpid()})
    left += [p for p in descendants(os.getpid()) if p not in left]
    if not left:
        return
    # Processes told to die may take a moment; judge what is still there after it.
    lines = survivors(left, within=5.0)
    for proc in left:
        if alive(proc):
            os.kill(proc[0], signal.SIGKILL)
    if lines:
        pytest.fail(
            f"{len(lines)} process(es) started by the tests outlived the session:\n"
            + "\n".join(lines),
            pytrace=False,
        )
