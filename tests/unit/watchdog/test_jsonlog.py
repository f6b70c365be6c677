"""The watchdog's log as JSON lines (PYFAAS_LOG_FORMAT=json), through a real pipe."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from pyfaas.watchdog.jsonlog import JsonLog, watchdog_log
from pyfaas.watchdog.log import GoLog


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    yield r, w
    os.close(r)
    os.close(w)


def test_messages_and_function_output_are_json_lines(pipe: tuple[int, int]) -> None:
    r, w = pipe
    log = watchdog_log("json", w)
    assert isinstance(log, JsonLog)
    log("Forking fprocess.")
    log.raw(b"first\nsecond\n")
    records = [json.loads(line) for line in os.read(r, 65536).splitlines()]
    assert [(x["component"], x["msg"]) for x in records] == [
        ("watchdog", "Forking fprocess."),
        ("watchdog", "first"),
        ("watchdog", "second"),
    ]
    assert "source" not in records[0]
    assert records[1]["source"] == "function"


def test_text_is_gos_log(pipe: tuple[int, int]) -> None:
    _, w = pipe
    log = watchdog_log("text", w)
    assert type(log) is GoLog
