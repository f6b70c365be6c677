"""Steering a NATS queue's calls: cancel, results, dead letters by filter and prune.

* ``cancel`` reads the record, then takes the call's run lock for good
  (``_nats_locks``): a lock already taken for an attempt that is not over
  means the call is running, and the cancel is a ``Conflict``; a claim that
  comes after finds the lock cancelled and never runs the call. A queued
  call's first delivery runs without a lock, so a cancel of one marks it
  first and asks whether its message was delivered (``_nats_cancels``). The call's
  message is then deleted from the stream by the sequence its record keeps.
* ``result`` reads the record, which holds the answer, or the object store
  for one too big for a record.
* ``prune`` reads the record bucket in stream order, oldest write first,
  and stops at the first record written at or after ``before``: a finished
  call's record is last written when it finishes, so the cost is the
  records older than ``before`` (mostly the ones it removes), not all.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from nats.js import api
from nats.js.object_store import ObjectStore

from pyfaas.errors import Conflict, NotFound, QueueUnavailable
from pyfaas.queue import _json
from pyfaas.queue._records import (
    CANCELLABLE,
    as_of,
    cancel_refusal,
    cancelled_record,
    decode_call,
    matches,
    new_record,
    replayed_call,
    replayed_record,
)
from pyfaas.queue.backends import _nats_list as listing
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_errors import delete_if_there, translated
from pyfaas.queue.backends._nats_layout import CALLS
from pyfaas.queue.backends._nats_locks import CANCELLED
from pyfaas.queue.backends._nats_seqs import stored_seq, undelivered_seq
from pyfaas.queue.backends._nats_stats import StatsReader
from pyfaas.queue.base import CallFilter, CallPage, DeadLetterFilter, QueueStats
from pyfaas.queue.envelope import CallRecord, CallState, QueuedCall, StoredResult

if TYPE_CHECKING:
    from pyfaas.queue.backends.nats import NatsQueue

# States of a call that is done with: ``prune`` may remove their records.
FINISHED = frozenset(
    {CallState.SUCCEEDED, CallState.FAILED, CallState.DEAD, CallState.CANCELLED, CallState.EXPIRED}
)
_LETTERS = (CallState.DEAD, CallState.EXPIRED)


class Steering:
    """The steering operations of one ``NatsQueue``, on its connection."""

    def __init__(self, queue: NatsQueue) -> None:
        self._q = queue
        self.queue = queue
        self._objects: ObjectStore | None = None

    # -- results ---------------------------------------------------------------

    async def _store(self) -> ObjectStore:
        if self._objects is None:
            js = self._q.parts()[0]
            try:
                self._objects = await js.object_store(self._q.names.results)
            except nats.js.errors.BucketNotFoundError:
                config = api.ObjectStoreConfig(storage=api.StorageType.FILE)
                self._objects = await js.create_object_store(self._q.names.results, config)
        return self._objects

    async def put_object(self, call_id: str, result: StoredResult) -> None:
        store = await self._store()
        await store.put(records.key_for(call_id), _json.dumps(result.to_json()))

    async def keep_result(
        self, record: CallRecord, extras: records.Extras, result: StoredResult
    ) -> bytes | None:
        """In the record if it fits a message, else in the object store.

        The record encoded with it when it fits: encoded once, not again to write it.
        """
        extras.result = result
        data = records.encode(record, extras)
        if len(data) <= self._q.max_payload - 1024:
            return data
        extras.result, extras.in_objects = None, True
        with translated(self._q.url):
            await self.put_object(record.call_id, result)
        return None

    async def result(self, call_id: str) -> StoredResult | None:
        with translated(self._q.url):
            return await self._result(call_id)

    async def _result(self, call_id: str) -> StoredResult | None:
        stored = await self._q.read(call_id)
        if stored is None or not stored[0].has_result:
            return None
        _record, extras = stored
        if extras.result is not None:
            return extras.result
        if not extras.in_objects:
            return None
        store = await self._store()
        try:
            found = await store.get(records.key_for(call_id))
        except nats.js.errors.ObjectNotFoundError:
            return None
        return StoredResult.from_json(_json.loads(found.data or b"{}"))

    # -- cancel ------------------------------------------------------------------

    async def cancel(self, call_id: str) -> CallRecord:
        with translated(self._q.url):
            return await self._cancel(call_id)

    async def _cancel(self, call_id: str) -> CallRecord:
        js, _, pub, _, locks = self._q.parts()
        stored = await self._q.read(call_id)
        if stored is None:
            raise NotFound(f"no call with call id {call_id}")
        record, extras = stored
        now = time.time()
        shown = as_of(record, now)
        if record.state not in CANCELLABLE:
            raise Conflict(cancel_refusal(shown))
        value, revision = await locks.read(call_id)
        if value == CANCELLED:
            raise Conflict(cancel_refusal(replace(shown, state=CallState.CANCELLED)))
        running = replace(shown, state=CallState.RUNNING)
        # A put's record does not hold its message's sequence (``_nats_seqs``).
        seq = extras.seq
        if not seq and record.attempts == 0:
            seq = await stored_seq(self._q, call_id)
            if not seq and record.state is CallState.QUEUED:
                lane = self._q.names.lane(CALLS, record.namespace, record.function)
                seq = await undelivered_seq(self._q, call_id, lane)
        if value is not None:
            # Taken for an attempt: cancellable only once that attempt is over.
            over = record.state is CallState.RETRYING and record.attempts >= int(value or 0)
            if not over:
                raise Conflict(cancel_refusal(running))
        elif record.state is CallState.QUEUED:
            # Its first delivery takes no lock unless marked: the mark first,
            # then whether a worker got the message before it (_nats_cancels).
            marks = self._q.marks()
            await marks.mark(call_id)
            if not seq or await marks.delivered(seq):
                raise Conflict(cancel_refusal(running))
        if not await locks.swap(call_id, CANCELLED, revision):
            raise Conflict(cancel_refusal(running))  # a worker took it just now
        cancelled = cancelled_record(record, now)
        # The lock is the cancel's: no worker writes this record again.
        await records.write(pub, self._q.names.bucket, cancelled, records.Extras(seq=seq))
        if seq:
            # Gone already: a claim has it, and drops it when it finds the lock.
            await delete_if_there(js, self._q.names.stream, seq)
        return cancelled

    # -- dead letters --------------------------------------------------------------

    async def _letters(
        self, where: DeadLetterFilter | None, limit: int | None = None
    ) -> list[tuple[CallRecord, records.Extras]]:
        _, _, _, letters, _ = self._q.parts()
        found: list[tuple[CallRecord, records.Extras]] = []
        # Replayed letters leave gaps and records change: newest first, until enough.
        async for call_id, seq in letters.newest():
            stored = await self._q.read(call_id)
            if stored is None or stored[0].state not in _LETTERS:
                continue
            if stored[1].dseq and stored[1].dseq != seq:
                continue  # an older letter of a call buried again
            if matches(stored[0], where):
                found.append(stored)
                if limit is not None and len(found) >= limit:
                    break
        return found

    async def dead_letters(
        self, limit: int = 100, where: DeadLetterFilter | None = None
    ) -> list[CallRecord]:
        with translated(self._q.url):
            found = await self._letters(where, limit)
        return [record for record, _ in found]

    async def dead_letter(self, call_id: str) -> tuple[CallRecord, QueuedCall | None]:
        with translated(self._q.url):
            return await self._dead_letter(call_id)

    async def _dead_letter(self, call_id: str) -> tuple[CallRecord, QueuedCall | None]:
        _, _, _, letters, _ = self._q.parts()
        stored = await self._q.read(call_id)
        letter = None
        if stored is not None and stored[0].state in _LETTERS:
            letter = await letters.take(call_id, stored[1].dseq)
        if stored is None or letter is None:
            raise NotFound(f"no dead letter with call id {call_id}")
        return stored[0], decode_call(letter[0])

    async def replay(self, call_id: str) -> None:
        with translated(self._q.url):
            await self._replay(call_id)

    async def _replay(self, call_id: str) -> None:
        js, _, pub, letters, locks = self._q.parts()
        stored = await self._q.read(call_id)
        letter = await letters.take(call_id, stored[1].dseq if stored is not None else 0)
        if letter is None:
            raise NotFound(f"no dead letter with call id {call_id}")
        data, dseq = letter
        call = decode_call(data)
        if call is None:
            # One that holds no call keeps its record: the next claim sets it aside anew.
            await js.publish(self._q.names.subject, data)
        else:
            call = replayed_call(call)
            record = replayed_record(stored[0] if stored is not None else new_record(call))
            # Its attempts count from 1 again: the lock of the last ones goes.
            await js.purge_stream(locks.stream, subject=locks.subject(call_id))
            await records.write(pub, self._q.names.bucket, record)
            # No Nats-Msg-Id: a replay must not be mistaken for the original put.
            ack = await pub.publish(self._q.subject_for(call, CALLS), call.encode())
            written = await self._q.read(call_id)
            if written is not None and written[0] == record:  # no worker wrote it since
                extras = records.Extras(seq=int(ack["seq"]))
                await records.write(pub, self._q.names.bucket, record, extras, written[1].revision)
        await letters.remove(call_id, dseq)

    async def replay_where(self, where: DeadLetterFilter) -> int:
        with translated(self._q.url):
            picked = await self._letters(where)
        for record, _ in picked:
            await self.replay(record.call_id)
        return len(picked)

    async def purge(self, where: DeadLetterFilter) -> int:
        with translated(self._q.url):
            picked = await self._letters(where)
        for record, extras in picked:
            with translated(self._q.url):
                await self._forget(record, extras)
        return len(picked)

    async def _forget(self, record: CallRecord, extras: records.Extras) -> None:
        """Remove every trace of a call that is done with; its id may be used again."""
        js, _, _, letters, locks = self._q.parts()
        call_id = record.call_id
        if extras.dseq or record.state in _LETTERS:
            await letters.remove(call_id, extras.dseq)
        if extras.in_objects:
            store = await self._store()
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await store.delete(records.key_for(call_id))
        await js.purge_stream(locks.stream, subject=locks.subject(call_id))
        marks = self._q.marks()
        await js.purge_stream(self._q.names.cancel_stream, subject=marks.subject(call_id))
        bucket = self._q.names.bucket
        await js.purge_stream(f"KV_{bucket}", subject=f"$KV.{bucket}.{records.key_for(call_id)}")

    # -- prune -------------------------------------------------------------------

    async def prune(self, before: float) -> int:
        with translated(self._q.url):
            return await self._prune(before)

    async def _prune(self, before: float) -> int:
        js = self._q.parts()[0]
        bucket = self._q.names.bucket
        stream = f"KV_{bucket}"
        info = await js.stream_info(stream)
        if not info.state.messages:
            return 0
        old: list[tuple[CallRecord, records.Extras]] = []
        sub = await js.subscribe(f"$KV.{bucket}.>", ordered_consumer=True)
        try:
            while True:
                msg = await sub.next_msg(timeout=self._q_timeout())
                meta = msg.metadata
                if meta.timestamp.timestamp() >= before:
                    break  # written since: every record after it too
                if not (msg.headers or {}).get("KV-Operation") and msg.data:
                    record, extras = records.decode_full(msg.data)
                    finished = record.finished_at
                    if record.state in FINISHED and finished is not None and finished < before:
                        old.append((record, extras))
                if not meta.num_pending:
                    break
        finally:
            await sub.unsubscribe()
        for record, extras in old:
            await self._forget(record, extras)
        return len(old)

    def _q_timeout(self) -> float:
        return max(self._q._timeout, 1.0)


class SteeringMethods:
    """The ``Queue`` methods a ``NatsQueue`` hands to its ``Steering`` and ``StatsReader``."""

    url: str
    _steer: Steering | None

    def _steering(self) -> Steering:
        if self._steer is None:
            raise QueueUnavailable(f"nats queue {self.url} is not connected")
        return self._steer

    async def dead_letters(
        self, limit: int = 100, where: DeadLetterFilter | None = None
    ) -> list[CallRecord]:
        return await self._steering().dead_letters(limit, where)

    async def dead_letter(self, call_id: str) -> tuple[CallRecord, QueuedCall | None]:
        return await self._steering().dead_letter(call_id)

    async def replay(self, call_id: str) -> None:
        await self._steering().replay(call_id)

    async def replay_where(self, where: DeadLetterFilter) -> int:
        return await self._steering().replay_where(where)

    async def purge(self, where: DeadLetterFilter) -> int:
        return await self._steering().purge(where)

    async def result(self, call_id: str) -> StoredResult | None:
        return await self._steering().result(call_id)

    async def cancel(self, call_id: str) -> CallRecord:
        return await self._steering().cancel(call_id)

    async def prune(self, before: float) -> int:
        return await self._steering().prune(before)

    async def stats(self) -> QueueStats:
        return await StatsReader(self._steering().queue).stats()

    async def calls(self, where: CallFilter | None = None, limit: int = 50) -> CallPage:
        queue = self._steering().queue
        with translated(self.url):
            return await listing.calls(queue, where or CallFilter(), limit)
