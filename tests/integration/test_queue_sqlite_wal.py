"""The SQLite queue's WAL stays bounded: checkpoints follow what was written, not only how often.

A settle writes several pages (record, history, result, counts); a WAL
checkpointed only every so many operations grew to fill a 32 MiB state
directory within 500 calls, and then no checkpoint could make room.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyfaas.queue.backends._sqlite_serve import WAL_CHECKPOINT_BYTES
from pyfaas.queue.backends.sqlite import SqliteQueue
from pyfaas.queue.envelope import Outcome, StoredResult
from tests.factories import queued_call

pytestmark = pytest.mark.integration

CALLS = 1500
BODY = b"x" * 4096  # some 12 MiB through the WAL in all: three times its bound


async def test_the_wal_is_checkpointed_by_size_and_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    queue = SqliteQueue(str(path))
    await queue.start()
    try:
        largest = 0
        for i in range(CALLS):
            await queue.put(queued_call(f"c{i}", body=BODY))
            if i % 100 == 99:
                for delivery in await queue.claim(limit=100, lease=30, wait=0.1):
                    result = StoredResult(200, [("Content-Type", "text/plain")], BODY, size=4096)
                    await queue.ack(delivery, Outcome(status_code=200, result=result))
                largest = max(largest, os.stat(f"{path}-wal").st_size)
        # Without checkpoints by size everything stays in the WAL and the
        # database file keeps its first page.
        assert os.stat(path).st_size > 2 * WAL_CHECKPOINT_BYTES
        assert largest < 5 * WAL_CHECKPOINT_BYTES, largest
    finally:
        await queue.close()
