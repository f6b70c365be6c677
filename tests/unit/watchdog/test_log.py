"""The watchdog's Go-style log lines, written through a real pipe."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator

import pytest

from pyfaas.watchdog.log import GoLog

LINE = re.compile(rb"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (.*)")


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    yield r, w
    os.close(r)
    os.close(w)


def available(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""


def messages(data: bytes) -> list[bytes]:
    found = [LINE.fullmatch(line) for line in data.splitlines()]
    assert all(found), data
    return [match.group(1) for match in found if match]


def test_outside_a_loop_lines_are_written_at_once(pipe: tuple[int, int]) -> None:
    r, w = pipe
    log = GoLog(w)
    log("Listening on port: 8080")
    assert messages(available(r)) == [b"Listening on port: 8080"]


async def test_lines_of_one_loop_turn_go_out_together_at_its_end(pipe: tuple[int, int]) -> None:
    r, w = pipe
    log = GoLog(w)
    log("Forking fprocess.")
    log.raw(b"raw output\n")
    log("Wrote 5 Bytes - Duration: 0.001000s\n")
    assert available(r) == b""
    await asyncio.sleep(0)
    data = available(r)
    lines = data.splitlines()
    assert lines[1] == b"raw output"
    assert messages(lines[0] + b"\n" + lines[2]) == [
        b"Forking fprocess.",
        b"Wrote 5 Bytes - Duration: 0.001000s",
    ]


async def test_flush_writes_what_is_held(pipe: tuple[int, int]) -> None:
    r, w = pipe
    log = GoLog(w)
    log("Exiting.")
    log.flush()
    assert messages(available(r)) == [b"Exiting."]
    await asyncio.sleep(0)
    assert available(r) == b""


def test_a_closed_log_pipe_is_ignored() -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    GoLog(w)("nobody reads this")
