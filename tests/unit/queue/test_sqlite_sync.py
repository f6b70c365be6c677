"""The WAL syncer: a put is answered only after a sync of the WAL file; a failed sync is a 503."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from pyfaas.errors import QueueUnavailable
from pyfaas.queue import QueuedCall
from pyfaas.queue.backends import _sqlite_sync
from pyfaas.queue.backends._sqlite_sync import WalSyncer
from pyfaas.queue.backends.sqlite import SqliteQueue


def _wal(tmp_path: Path) -> str:
    wal = tmp_path / "q.db-wal"
    wal.touch()
    return str(wal)


def test_callers_are_settled_after_a_sync_and_at_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    settled = threading.Event()
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        order.append("sync")
        real(fd)

    def settle(batch: list[Any], error: Exception | None) -> None:
        order.extend(batch)
        assert error is None
        settled.set()

    monkeypatch.setattr(_sqlite_sync.os, "fdatasync", fdatasync)
    syncer = WalSyncer(_wal(tmp_path), settle)
    syncer.after_sync(["a", "b"])
    assert settled.wait(5)
    syncer.after_sync(["c"])
    syncer.stop()
    assert order[:3] == ["sync", "a", "b"]
    assert order[3:] == ["sync", "c"]


async def test_a_failed_sync_fails_the_put_instead_of_answering_202(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    queue = SqliteQueue(str(tmp_path / "q.db"))
    await queue.start()
    try:
        assert await queue.put(QueuedCall("ok", "echo", "openfaas-fn", body=b"x"))
        monkeypatch.setattr(_sqlite_sync.os, "fdatasync", broken)
        with pytest.raises(QueueUnavailable, match="sync failed"):
            await queue.put(QueuedCall("lost", "echo", "openfaas-fn", body=b"x"))
    finally:
        monkeypatch.undo()
        await queue.close()
