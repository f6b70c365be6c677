"""A NATS queue's counts: ``stats`` per function and in all.

``stats`` costs three ``stream_info`` requests, sent together (the calls
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
import time
from typing import TYPE_CHECKING

import nats.js.errors

from pyfaas.queue._records import CALLBACKS, decode_call
from pyfaas.queue.backends._nats_errors import translated
from pyfaas.queue.backends._nats_layout import CALLBACK_LANE, DELAYED, RETRY
from pyfaas.queue.backends._nats_tally import read_sum
from pyfaas.queue.base import FunctionStats, QueueStats

if TYPE_CHECKING:
    from pyfaas.queue.backends.nats import NatsQueue


class StatsReader:
    """The counts of one ``NatsQueue``, read on its connection."""

    def __init__(self, queue: NatsQueue) -> None:
        self._q = queue

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
            shares = counts.setdefault(key, FunctionStats.zero_counts())
            if kind == DELAYED:
                shares["delayed"] += count
            elif kind == RETRY:
                shares["retrying"] += count
            else:
                lanes.append((key, subject))
        for key, count in dead_per.items():
            counts.setdefault(key, FunctionStats.zero_counts())["dead"] += count
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
        functions = FunctionStats.from_counts(counts)
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
                counts.setdefault(key, FunctionStats.zero_counts())[tally] += count
        summed_up = await asyncio.gather(*(self._sum(subject) for _, _, subject in sums))
        for (key, tally, _), total in zip(sums, summed_up, strict=True):
            counts.setdefault(key, FunctionStats.zero_counts())[tally] += total

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
