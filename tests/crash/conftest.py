"""Fixtures of the crash suite: a run-recording receiver, a submitter, a served platform."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.crash.disk import mount_tmpfs, unmount
from tests.crash.served import LINES, Calls, Serve
from tests.integration.processes import Receiver

SMALL_DISK = "32m"


TALLY = "crash tally"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test's tally lines go with its report, which reaches the summary from any worker."""
    before = len(LINES)
    try:
        return (yield)
    finally:
        item.user_properties.extend((TALLY, line) for line in LINES[before:])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Each crash test's counts, in one section: they are the suite's measurements."""
    reports = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])]
    lines = [
        str(value)
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == TALLY
    ]
    if lines:
        terminalreporter.section("crash suite: calls accepted, ran, lost, ran twice")
        for line in lines:
            terminalreporter.write_line(line)


@dataclass
class Rig:
    serve: Serve
    receiver: Receiver
    submitter: Calls


@pytest.fixture
def recorder() -> Iterator[tuple[Receiver, Calls]]:
    receiver = Receiver()
    submitter = Calls(receiver.url)
    try:
        yield receiver, submitter
    finally:
        submitter.close()
        receiver.close()


def served(serve: Serve, recorder: tuple[Receiver, Calls]) -> Iterator[Rig]:
    receiver, submitter = recorder
    try:
        serve.start()
        serve.deploy_recorder(receiver)
        yield Rig(serve, receiver, submitter)
    finally:
        serve.stop()


@pytest.fixture
def rig(tmp_path: Path, recorder: tuple[Receiver, Calls]) -> Iterator[Rig]:
    """``pyfaas serve`` on the SQLite queue with the recording function deployed."""
    yield from served(Serve(tmp_path), recorder)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A ``SMALL_DISK`` tmpfs on a fresh directory; skipped where it cannot be mounted."""
    mount_point = tmp_path / "state"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if (why := mount_tmpfs(mount_point, SMALL_DISK)) is not None:
        pytest.skip(why)
    try:
        yield mount_point
    finally:
        unmount(mount_point)


@pytest.fixture
def full_rig(tmp_path: Path, small_disk: Path, recorder: tuple[Receiver, Calls]) -> Iterator[Rig]:
    """Like ``rig``, with the state directory on ``small_disk``."""
    yield from served(Serve(tmp_path, home=small_disk / "home"), recorder)
