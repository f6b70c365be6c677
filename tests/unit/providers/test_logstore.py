"""The NDJSON log store: append, read filters, rotation, follow."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pyfaas.logstore import LogStore, parse_timestamp
from pyfaas.paths import StatePaths

NS = "openfaas-fn"
Stores = Callable[..., LogStore]


@pytest.fixture
def stores(state: StatePaths) -> Iterator[Stores]:
    """Opens log stores on ``state``; every one is closed after the test, its files with it."""
    opened: list[LogStore] = []

    def open_store(**options: Any) -> LogStore:
        opened.append(LogStore(state, **options))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


def test_append_writes_one_json_object_a_line(state: StatePaths, stores: Stores) -> None:
    store = stores()
    store.append(NS, "fn", "fn-1", "2026/11/23 21:55:00 Forking fprocess.")
    store.close()
    (line,) = state.log_file(NS, "fn").read_text().splitlines()
    record = json.loads(line)
    assert set(record) == {"instance", "timestamp", "text"}
    assert record["instance"] == "fn-1"
    assert record["timestamp"].endswith("000Z")
    assert record["text"] == "2026/11/23 21:55:00 Forking fprocess."


def test_text_and_instance_that_need_escaping_read_back_unchanged(
    state: StatePaths, stores: Stores
) -> None:
    store = stores()
    texts = ['say "hi" \\ there', "tab\there, é and \u2028", "\x00\x1b[31mred"]
    store.append_many(NS, "fn", 'fn-"1"', texts)
    store.close()
    # split("\n"), not splitlines(): U+2028 is a line break to Python, not to NDJSON.
    lines = state.log_file(NS, "fn").read_text(encoding="utf-8").rstrip("\n").split("\n")
    assert [json.loads(line)["text"] for line in lines] == texts
    assert {json.loads(line)["instance"] for line in lines} == {'fn-"1"'}
    assert [m.text for m in stores().read(NS, "fn")] == texts


def test_append_many_writes_lines_of_one_instance_at_once(
    state: StatePaths, stores: Stores
) -> None:
    store = stores()
    store.append_many("openfaas-fn", "fn", "fn-1", ["Forking fprocess.", "Wrote 3 Bytes"])
    store.append_many("openfaas-fn", "fn", "fn-1", [])
    messages = store.read("openfaas-fn", "fn")
    assert [m.text for m in messages] == ["Forking fprocess.", "Wrote 3 Bytes"]
    assert {m.instance for m in messages} == {"fn-1"}
    assert messages[0].timestamp == messages[1].timestamp


def test_read_filters_by_instance_since_and_tail(state: StatePaths, stores: Stores) -> None:
    store = stores()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(6):
        store.append(NS, "fn", f"fn-{i % 2}", f"line {i}", at=start + timedelta(seconds=i))
    assert [m.text for m in store.read(NS, "fn", tail=2)] == ["line 4", "line 5"]
    assert [m.text for m in store.read(NS, "fn", instance="fn-1")] == ["line 1", "line 3", "line 5"]
    since = store.read(NS, "fn", since=start + timedelta(seconds=4))
    assert [m.text for m in since] == ["line 4", "line 5"]
    assert all((m.name, m.namespace) == ("fn", NS) for m in since)
    assert store.read(NS, "unknown") == []


def test_torn_and_foreign_lines_are_skipped(state: StatePaths, stores: Stores) -> None:
    store = stores()
    store.append(NS, "fn", "fn-1", "good")
    with state.log_file(NS, "fn").open("ab") as handle:
        handle.write(b'not json\n{"instance": "x"}\n{"instance": "fn-1", "tim')
    assert [m.text for m in store.read(NS, "fn")] == ["good"]


def test_rotation_keeps_one_old_file(state: StatePaths, stores: Stores) -> None:
    store = stores(max_bytes=400)
    for i in range(30):
        store.append(NS, "fn", "fn-1", f"line {i:02d}")
    path = state.log_file(NS, "fn")
    assert path.with_name(path.name + ".1").exists()
    assert not path.exists() or path.stat().st_size < 400
    texts = [m.text for m in store.read(NS, "fn")]
    assert texts[-1] == "line 29"
    assert texts == sorted(texts)
    assert len(texts) < 30


def test_timestamps_keep_microseconds_from_nanoseconds() -> None:
    moment = parse_timestamp("2026-11-23T21:55:00.123456789Z")
    assert moment == datetime(2026, 11, 23, 21, 55, 0, 123456, tzinfo=UTC)
    assert parse_timestamp("2026-11-23T21:55:00Z").tzinfo is not None


async def test_follow_yields_existing_then_new_lines_across_rotation(
    state: StatePaths, stores: Stores
) -> None:
    # One rotation between two polls: the follower finishes the moved file first.
    store = stores(max_bytes=500)
    store.append(NS, "fn", "fn-1", "old")
    stream = store.follow(NS, "fn", interval=0.01)
    assert (await asyncio.wait_for(anext(stream), 2)).text == "old"
    for i in range(8):
        store.append(NS, "fn", "fn-1", f"new {i}")
    path = state.log_file(NS, "fn")
    assert path.with_name(path.name + ".1").exists()
    got = [(await asyncio.wait_for(anext(stream), 2)).text for _ in range(8)]
    await stream.aclose()
    assert got == [f"new {i}" for i in range(8)]


async def test_follow_waits_for_a_file_that_does_not_exist_yet(
    state: StatePaths, stores: Stores
) -> None:
    store = stores()
    stream = store.follow(NS, "late", instance="late-1", interval=0.01)
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    store.append(NS, "late", "late-2", "other instance")
    store.append(NS, "late", "late-1", "mine")
    assert (await asyncio.wait_for(pending, 2)).text == "mine"
    await stream.aclose()


def test_a_full_disk_drops_lines_says_so_once_and_the_log_resumes(
    state: StatePaths, stores: Stores, capsys: pytest.CaptureFixture[str]
) -> None:
    store = stores()
    path = state.log_file(NS, "fn")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Every write to /dev/full fails as on a full disk (ENOSPC).
    path.symlink_to("/dev/full")
    store.append(NS, "fn", "fn-1", "lost one")
    store.append_many(NS, "fn", "fn-1", ["lost two", "lost three"])
    warned = capsys.readouterr().err.splitlines()
    assert len(warned) == 1, warned
    assert "are being dropped" in warned[0]
    assert "No space left on device" in warned[0]
    path.unlink()
    store.append(NS, "fn", "fn-1", "kept")
    store.append(NS, "fn", "fn-1", "kept too")
    store.close()
    texts = [m.text for m in stores().read(NS, "fn")]
    assert texts == ["3 log lines were dropped: No space left on device", "kept", "kept too"]
