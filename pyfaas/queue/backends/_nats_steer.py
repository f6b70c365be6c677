"""Steering a NATS queue's calls: cancel, results, dead letters by filter, prune and stats.

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
* ``stats`` costs three ``stream_info`` requests, sent together (the calls
  stream's count per subject, the dead stream's per function, the tally
  stream's per subject: ``processed`` and ``callback_failures``, a running
  sum each, read with one request a sum) and, for each function with
  calls to run, its consumer's info and its oldest call: a few requests
  per function, sent together, whatever the number of calls. ``running``
  counts deliveries of the calls lanes not yet settled; a retry or a
  delayed call counts as ``retrying`` or ``delayed`` until it is settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from nats.js import api
from nats.js.object_store import ObjectStore

from pyfaas.errors import Conflict, NotFound
from pyfaas.queue import _json
from pyfaas.queue._records import (
    CALLBACKS,
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
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_errors import delete_if_there, translated
from pyfaas.queue.backends._nats_layout import CALLBACK_LANE, CALLS, DELAYED, RETRY
from pyfaas.queue.backends._nats_locks import CANCELLED
from pyfaas.queue.backends._nats_tally import read_sum
from pyfaas.queue.base import DeadLetterFilter, FunctionStats, QueueStats
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
            if not extras.seq or await marks.delivered(extras.seq):
                raise Conflict(cancel_refusal(running))
        if not await locks.swap(call_id, CANCELLED, revision):
            raise Conflict(cancel_refusal(running))  # a worker took it just now
        cancelled = cancelled_record(record, now)
        # The lock is the cancel's: no worker writes this record again.
        await records.write(pub, self._q.names.bucket, cancelled, records.Extras(seq=extras.seq))
        if extras.seq:
            # Gone already: a claim has it, and drops it when it finds the lock.
            await delete_if_there(js, self._q.names.stream, extras.seq)
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

    # -- stats -------------------------------------------------------------------

    async def stats(self) -> QueueStats:
        with translated(self._q.url):
            return await self._stats()

    async def _stats(self) -> QueueStats:
        js, _, _, letters, _ = self._q.parts()
        names = self._q.names
        info, (dead, dead_per), tallied = await asyncio.gather(
            js.stream_info(names.stream, subjects_filter=">"),
            letters.counts(),
            js.stream_info(names.tally_stream, subjects_filter=names.tally_subject + ".>"),
        )
        counts: dict[str, dict[str, float]] = {}
        lanes: list[tuple[str, str]] = []  # (function, calls subject)
        legacy = 0
        for subject, count in (info.state.subjects or {}).items():
            lane = names.lane_of(subject)
            if lane is None:
                legacy += count
                continue
            kind, namespace, function = lane
            key = CALLBACKS if (namespace, function) == CALLBACK_LANE else f"{function}.{namespace}"
            shares = counts.setdefault(key, _zero())
            if kind == DELAYED:
                shares["delayed"] += count
            elif kind == RETRY:
                shares["retrying"] += count
            else:
                lanes.append((key, subject))
        for key, count in dead_per.items():
            counts.setdefault(key, _zero())["dead"] += count
        await self._add_tallies(tallied.state.subjects or {}, counts)
        found = await asyncio.gather(*(self._lane(subject) for _, subject in lanes))
        for (key, _), (queued, running, oldest) in zip(lanes, found, strict=True):
            shares = counts[key]
            shares["queued"] += queued
            shares["running"] += running
            shares["oldest_age"] = max(shares["oldest_age"], oldest)
        queued, running = 0, 0
        if legacy:
            queued, running, _ = await self._lane(names.subject)
        functions = tuple(
            FunctionStats(
                function=key,
                queued=int(c["queued"]),
                delayed=int(c["delayed"]),
                running=int(c["running"]),
                retrying=int(c["retrying"]),
                dead=int(c["dead"]),
                oldest_age=c["oldest_age"],
                processed=int(c["processed"]),
                callback_failures=int(c["callback_failures"]),
            )
            for key, c in sorted(counts.items())
        )
        return QueueStats(
            queued=queued + sum(f.queued for f in functions),
            running=running + sum(f.running for f in functions),
            dead=dead,
            delayed=sum(f.delayed for f in functions),
            retrying=sum(f.retrying for f in functions),
            functions=functions,
        )

    async def _add_tallies(
        self, subjects: dict[str, int], counts: dict[str, dict[str, float]]
    ) -> None:
        """Add the tally stream's counts, per subject, to ``counts``."""
        names = self._q.names
        prefix = names.tally_subject + "."
        sums: list[tuple[str, str, str]] = []  # (function, count, subject)
        for subject, count in subjects.items():
            tally, namespace, function = subject[len(prefix) :].split(".", 2)
            summed = tally == "sum"
            if summed:  # a running sum: its message says the count
                tally, namespace, function = f"{namespace}.{function}".split(".", 2)
            key = CALLBACKS if (namespace, function) == CALLBACK_LANE else f"{function}.{namespace}"
            if tally not in ("processed", "callback_failures"):
                continue
            if summed:
                sums.append((key, tally, subject))
            else:  # one empty message per count, from before the running sums
                counts.setdefault(key, _zero())[tally] += count
        summed_up = await asyncio.gather(*(self._sum(subject) for _, _, subject in sums))
        for (key, tally, _), total in zip(sums, summed_up, strict=True):
            counts.setdefault(key, _zero())[tally] += total

    async def _sum(self, subject: str) -> int:
        js = self._q.parts()[0]
        try:
            msg = await js.get_last_msg(self._q.names.tally_stream, subject)
        except nats.js.errors.NotFoundError:
            return 0  # rolled up just now: the next look sees the new sum
        return read_sum(msg.data)

    async def _lane(self, subject: str) -> tuple[int, int, float]:
        """A calls lane's undelivered calls, unsettled deliveries, and its oldest call's wait."""
        js = self._q.parts()[0]
        names = self._q.names
        try:
            consumer = await js.consumer_info(names.stream, names.consumer_for(subject))
        except nats.js.errors.NotFoundError:
            queued, running, after = -1, 0, 0  # no worker has asked yet: all of them wait
        else:
            queued = consumer.num_pending or 0
            running = consumer.num_ack_pending or 0
            after = consumer.delivered.stream_seq if consumer.delivered else 0
        oldest = 0.0
        if queued:
            try:
                msg = await js.get_msg(names.stream, seq=after + 1, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                msg = None
            call = decode_call(msg.data) if msg is not None else None
            if call is not None:
                oldest = max(time.time() - max(call.submitted_at, call.not_before), 0.0)
        if queued < 0:
            info = await js.stream_info(names.stream, subjects_filter=subject)
            queued = (info.state.subjects or {}).get(subject, 0)
        return queued, running, oldest


def _zero() -> dict[str, float]:
    shares = ("queued", "delayed", "running", "retrying", "dead", "oldest_age")
    return dict.fromkeys((*shares, "processed", "callback_failures"), 0.0)
