"""The SQLite queue's listing looks at a bounded window of rows for a filter no index answers.

With the window shrunk to a few rows, a state filter that matches few calls
answers short pages (empty ones too) with a cursor, and following the
cursors lists every match once, newest first.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pyfaas.queue.backends import _sqlite_steer as steer
from pyfaas.queue.backends.sqlite import SqliteQueue
from pyfaas.queue.base import CallFilter
from pyfaas.queue.envelope import CallState, QueuedCall

pytestmark = pytest.mark.integration


async def test_a_rare_state_is_found_through_short_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steer, "LIST_SCAN", 3)
    queue = SqliteQueue(str(tmp_path / "queue.db"))
    await queue.start()
    try:
        for n in range(10):
            later = time.time() + 600 if n in (1, 8) else 0.0
            await queue.put(QueuedCall(f"c{n}", "echo", "ns", body=b"", not_before=later))
        where = CallFilter(state=CallState.DELAYED)
        pages = [await queue.calls(where, limit=5)]
        while pages[-1].next is not None:
            assert len(pages) < 10
            pages.append(
                await queue.calls(CallFilter(state=CallState.DELAYED, before=pages[-1].next), 5)
            )
        assert [r.call_id for p in pages for r in p.records] == ["c8", "c1"]
        assert len(pages) > 2  # the window, not the limit, ended the pages
        assert any(not p.records and p.next for p in pages)
        everything = await queue.calls(CallFilter(function="echo"), limit=20)
        assert len(everything.records) == 10  # a function alone: its index, no window
        assert everything.next is None
    finally:
        await queue.close()
