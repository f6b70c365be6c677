"""Forking children for the classic runner: real processes, real pipes."""

from __future__ import annotations

import asyncio
import os
import select
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pyfaas.watchdog.runners.fork import Outcome, Spawner

# Every test forks real processes.
pytestmark = pytest.mark.integration

ENV = {"PATH": os.environ.get("PATH", os.defpath)}


@pytest.fixture
async def cat() -> AsyncIterator[Spawner]:
    spawner = Spawner(("cat",), ENV)
    yield spawner
    spawner.close()


async def run(spawner: Spawner, stdin: bytes, *, combine_output: bool = True) -> Outcome:
    child = spawner.start({}, stdin, combine_output=combine_output)
    return await asyncio.wait_for(child.wait(), 20)


@pytest.mark.parametrize("size", [0, 20, select.PIPE_BUF, select.PIPE_BUF + 1, 3 * 1024 * 1024 + 7])
async def test_cat_returns_its_input(cat: Spawner, size: int) -> None:
    data = os.urandom(size)
    outcome = await run(cat, data)
    assert outcome.code == 0
    assert outcome.out == data


async def test_concurrent_children_keep_their_own_output(cat: Spawner) -> None:
    bodies = [f"call {i}".encode() * (i + 1) for i in range(30)]
    outcomes = await asyncio.gather(*(run(cat, body) for body in bodies))
    assert [o.out for o in outcomes] == bodies


async def test_exit_code_and_separate_stderr(tmp_path: Path) -> None:
    script = tmp_path / "both.sh"
    script.write_text("echo out\necho err >&2\nexit 3\n")
    spawner = Spawner(("sh", str(script)), ENV)
    try:
        outcome = await run(spawner, b"", combine_output=False)
        combined = await run(spawner, b"", combine_output=True)
    finally:
        spawner.close()
    assert (outcome.code, outcome.out, outcome.err) == (3, b"out\n", b"err\n")
    assert combined.out == b"out\nerr\n"
    assert combined.err == b""


async def test_child_that_closes_its_output_early_is_still_waited_for(tmp_path: Path) -> None:
    script = tmp_path / "late.sh"
    script.write_text("echo early\nexec >&- 2>&-\nsleep 0.3\nexit 4\n")
    spawner = Spawner(("sh", str(script)), ENV)
    try:
        outcome = await run(spawner, b"")
    finally:
        spawner.close()
    assert outcome.code == 4
    assert outcome.out == b"early\n"


async def test_killed_child_reports_the_signal(tmp_path: Path) -> None:
    spawner = Spawner(("sleep", "30"), ENV)
    try:
        child = spawner.start({}, b"", combine_output=True)
        child.kill()
        outcome = await asyncio.wait_for(child.wait(), 10)
    finally:
        spawner.close()
    assert outcome.code == -9


async def test_child_that_does_not_read_a_large_stdin() -> None:
    spawner = Spawner(("true",), ENV)
    try:
        outcome = await run(spawner, b"x" * (1024 * 1024))
    finally:
        spawner.close()
    assert outcome.code == 0


async def test_missing_program_raises_file_not_found() -> None:
    spawner = Spawner(("no-such-program-here",), ENV)
    try:
        with pytest.raises(FileNotFoundError):
            spawner.start({}, b"x", combine_output=True)
    finally:
        spawner.close()


async def test_program_is_resolved_on_path_once(tmp_path: Path) -> None:
    program = tmp_path / "hello"
    program.write_text("#!/bin/sh\necho hello\n")
    program.chmod(0o755)
    spawner = Spawner(("hello",), {"PATH": f"{tmp_path}:{ENV['PATH']}"})
    try:
        outcome = await run(spawner, b"")
    finally:
        spawner.close()
    assert outcome.out == b"hello\n"


async def test_children_inherit_only_the_three_pipes(tmp_path: Path) -> None:
    spawner = Spawner(("ls", "/proc/self/fd"), ENV)
    try:
        outcome = await run(spawner, b"")
    finally:
        spawner.close()
    # Descriptors this test process was itself given without close-on-exec pass on.
    inherited = {fd for fd in _open_fds() if fd > 2 and os.get_inheritable(fd)}
    listed = {int(fd) for fd in outcome.out.split()}
    # 0, 1, 2 and the one ls opened to list the directory.
    assert len(listed - inherited) == 4


def _open_fds() -> list[int]:
    return [int(fd) for fd in os.listdir("/proc/self/fd") if _is_open(int(fd))]


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


async def test_request_variables_join_and_replace_the_base_environment() -> None:
    spawner = Spawner(("env",), {**ENV, "A": "base", "B": "kept"})
    try:
        child = spawner.start({"A": "request", "Http_X": "1"}, b"", combine_output=True)
        plain = spawner.start({}, b"", combine_output=True)
        outcome, base = await child.wait(), await plain.wait()
    finally:
        spawner.close()
    lines = outcome.out.decode().splitlines()
    assert {"A=request", "B=kept", "Http_X=1"} <= set(lines)
    assert "A=base" not in lines
    assert {"A=base", "B=kept"} <= set(base.out.decode().splitlines())


async def test_children_do_not_inherit_pythons_ignored_signals() -> None:
    # Python ignores SIGPIPE and SIGXFSZ; a function forked by it must not.
    spawner = Spawner(("grep", "SigIgn", "/proc/self/status"), ENV)
    try:
        outcome = await run(spawner, b"")
    finally:
        spawner.close()
    ignored = int(outcome.out.split()[1], 16)
    for number in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (number - 1))
