"""Reading one call's record on NATS: as stored, with its extras, or as of now for the API."""

from __future__ import annotations

import time

import nats.js.errors
from nats.js.kv import KeyValue

from pyfaas.errors import QueueUnavailable
from pyfaas.queue._records import as_of
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_errors import translated
from pyfaas.queue.backends._nats_marks import RunningRecords
from pyfaas.queue.envelope import CallRecord


class RecordReads:
    """The ``NatsQueue`` methods that read a record from the calls bucket."""

    url: str
    _kv: KeyValue | None
    _running: RunningRecords

    async def read(self, call_id: str) -> tuple[CallRecord, records.Extras] | None:
        """The stored record of ``call_id`` with its extras (revision included), as it is."""
        kv = self._kv
        if kv is None:
            raise QueueUnavailable(f"nats queue {self.url} is not connected")
        try:
            entry = await kv.get(records.key_for(call_id))
        except nats.js.errors.KeyNotFoundError:
            return None
        if entry.value is None or entry.operation is not None:
            return None
        return records.decode_full(entry.value, entry.revision or 0)

    async def record(self, call_id: str) -> CallRecord | None:
        # A running record still held back by this process is written first.
        await self._running.flush(call_id)
        with translated(self.url):
            stored = await self.read(call_id)
        return None if stored is None else as_of(stored[0], time.time())
