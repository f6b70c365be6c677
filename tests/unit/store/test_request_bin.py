"""The request-bin store function's handler, called as the watchdog calls it.

The handler is loaded from its file, as the watchdog imports it, and given
the watchdog's own ``Event``; its records go to a directory of the test's.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from pyfaas.builder.store import get_store_function
from pyfaas.watchdog.runners.event import Context, Event

HANDLER = get_store_function("request-bin").project / "request-bin" / "handler.py"


def load(directory: Path, monkeypatch: pytest.MonkeyPatch, limit: int = 500) -> ModuleType:
    """A fresh copy of the handler module, keeping its records in ``directory``."""
    monkeypatch.setenv("bin_dir", str(directory))
    monkeypatch.setenv("bin_max_requests", str(limit))
    spec = importlib.util.spec_from_file_location("request_bin_handler", HANDLER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def event(
    method: str = "POST",
    path: str = "/",
    body: bytes = b"",
    query: dict[str, str] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Event:
    return Event(
        body=body,
        headers=CIMultiDictProxy(CIMultiDict(headers or [])),
        method=method,
        query=dict(query or {}),
        path=path,
    )


def call(module: ModuleType, request: Event) -> tuple[int, Any]:
    answer = module.handle(request, Context(hostname="test"))
    return answer["statusCode"], json.loads(answer["body"])


def records(module: ModuleType, tail: str | None = None) -> list[dict[str, Any]]:
    status, listed = call(
        module, event("GET", "/_bin/requests", query={"tail": tail} if tail else None)
    )
    assert status == 200
    assert isinstance(listed, list)
    return listed


def test_it_records_method_path_query_headers_body_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch)
    status, answer = call(
        module,
        event(
            "PUT",
            "/hook/x",
            b"hello",
            {"a": "1"},
            [("X-Call-Id", "c-1"), ("X-Thing", "one"), ("X-Thing", "two")],
        ),
    )
    assert (status, answer) == (200, {"recorded": 1})
    [record] = records(module)
    assert record["method"] == "PUT"
    assert record["path"] == "/hook/x"
    assert record["query"] == "a=1"
    assert record["body"] == "hello"
    assert record["headers"]["X-Call-Id"] == "c-1"
    assert record["headers"]["X-Thing"] == "one, two"
    assert record["time"].endswith("+00:00")


def test_reading_the_records_is_not_recorded_and_tail_keeps_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch)
    for n in range(5):
        call(module, event(body=str(n).encode()))
    assert [r["body"] for r in records(module)] == ["0", "1", "2", "3", "4"]
    assert [r["body"] for r in records(module, tail="2")] == ["3", "4"]
    assert records(module, tail="0") == []
    assert len(records(module)) == 5
    status, error = call(module, event("GET", "/_bin/requests", query={"tail": "x"}))
    assert status == 400
    assert "tail" in error["error"]


def test_a_binary_body_comes_as_base64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(tmp_path, monkeypatch)
    call(module, event(body=b"\xff\x00"))
    [record] = records(module)
    assert (record["body"], record["bodyEncoding"]) == ("/wA=", "base64")


def test_records_are_bounded_and_kept_across_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load(tmp_path, monkeypatch, limit=3)
    for n in range(10):
        call(module, event(body=str(n).encode()))
    assert [r["body"] for r in records(module)] == ["7", "8", "9"]
    # The file is compacted: it never holds more than twice the kept records.
    lines = (tmp_path / "requests.ndjson").read_text().splitlines()
    assert len(lines) <= 6

    restarted = load(tmp_path, monkeypatch, limit=3)
    assert [r["body"] for r in records(restarted)] == ["7", "8", "9"]
    call(restarted, event(body=b"10"))
    kept = records(restarted)
    assert [r["body"] for r in kept] == ["8", "9", "10"]
    assert [r["id"] for r in kept] == [9, 10, 11]


def test_a_line_cut_by_a_crash_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(tmp_path, monkeypatch)
    call(module, event(body=b"whole"))
    with (tmp_path / "requests.ndjson").open("a") as out:
        out.write('{"id": 2, "bo')
    restarted = load(tmp_path, monkeypatch)
    assert [r["body"] for r in records(restarted)] == ["whole"]
    call(restarted, event(body=b"next"))
    again = load(tmp_path, monkeypatch)
    assert [r["body"] for r in records(again)] == ["whole", "next"]
