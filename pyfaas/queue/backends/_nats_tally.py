"""The counts a NATS settle for good adds to the tally stream, a running sum per subject.

Stream ``PYFAAS_TALLY`` (``_nats_layout``) holds, for each function, one
message per count on ``<base>.tally.sum.<count>.<ns>.<fn>``: ``processed``
(calls settled for good) and ``callback_failures`` (callbacks that failed
for good, under the function of the call the callback was for). Its payload
is the running sum in ASCII digits; each new sum is published with
``Nats-Rollup: sub``, which removes the one before, and with the sequence of
the one before expected, so two processes adding at once never lose a count
(the loser reads the sum again and adds anew). The stream thus holds one
message per function and count, however many calls settle.

Settles are counted in groups: the counts of every settle that arrives while
a group is being published go in the next group, one publish per subject
for all of them, and each settle waits until the group holding its count is
stored (``Tallies.add``), so a settle that returned is counted durably, as
when each had its own message. A group starts at least ``GROUP_SPACING``
after the one before: settles a millisecond apart (``max_inflight=1``)
would otherwise each make a group of one, a publish, a stream write and a
purge each. A settle waits that much longer for its count, in the
background: its call's slot is already free.

Streams made before the running sums hold one empty message per count on
``<base>.tally.<count>.<ns>.<fn>``; ``stats`` (``_nats_steer``) adds their
number to the sum, and nothing writes there any more.
"""

from __future__ import annotations

import asyncio
import functools

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from pyfaas.queue._records import callback_failure
from pyfaas.queue.backends._nats_claims import lane_of
from pyfaas.queue.backends._nats_layout import NatsNames
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.backends._nats_records import WRONG_LAST_SEQUENCE
from pyfaas.queue.envelope import CallState, Delivery

# A group's publish that lost a race with another process's is tried this often.
ADD_TRIES = 20
# Seconds from one group's start to the next one's, at the least.
GROUP_SPACING = 0.02


def counts_of(names: NatsNames, delivery: Delivery, state: CallState) -> list[str]:
    """The sum subjects a settle for good adds one to: processed, and a callback that failed."""
    call = delivery.call
    namespace, function = lane_of(call)
    counts = [("processed", namespace, function)]
    if callback_failure(call, state) is not None:
        counts.append(("callback_failures", call.namespace, call.function))
    subjects = (_sum_subject(names, count, ns, fn) for count, ns, fn in counts)
    return [subject for subject in subjects if subject is not None]


# A settle asks for its function's subjects every time: the names' checks
# (two patterns each) cost a busy worker some 10 µs a call.
@functools.lru_cache(maxsize=4096)
def _sum_subject(names: NatsNames, count: str, namespace: str, function: str) -> str | None:
    return names.tally_sum(count, namespace, function)


def read_sum(data: bytes | None) -> int:
    """A sum message's count; 0 for one that holds no number (anyone may publish)."""
    try:
        return int(data or b"0")
    except ValueError:
        return 0


class Tallies:
    """The running sums of one queue: counts added in groups, one publish a subject each."""

    def __init__(self, js: JetStreamContext, pub: Publisher, names: NatsNames) -> None:
        self._js = js
        self._pub = pub
        self._names = names
        self._pending: dict[str, int] = {}  # subject -> counts not yet in a group
        self._waiting: list[asyncio.Future[None]] = []  # the settles that made them
        self._group: asyncio.Task[None] | None = None
        self._last_group = -GROUP_SPACING  # when the last group started (loop time)
        # subject -> the sum this process last stored there, and its sequence:
        # with one process adding, the next add needs no read first.
        self._known: dict[str, tuple[int, int]] = {}

    def add(self, subjects: list[str]) -> asyncio.Future[None] | None:
        """Count one on each subject; the future is done once the counts are stored."""
        if not subjects:
            return None
        for subject in subjects:
            self._pending[subject] = self._pending.get(subject, 0) + 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        if self._group is None:
            # A task, so that the settles of this same turn of the loop join it.
            self._group = asyncio.create_task(self._publish_groups())
        return done

    def withdraw(self, subjects: list[str], done: asyncio.Future[None] | None) -> None:
        """Take back counts not yet published (their settle failed); published ones stay."""
        if done is None or done not in self._waiting:
            return
        self._waiting.remove(done)
        done.cancel()
        for subject in subjects:
            left = self._pending.get(subject, 0) - 1
            if left > 0:
                self._pending[subject] = left
            else:
                self._pending.pop(subject, None)

    async def _publish_groups(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            while self._waiting:
                wait = self._last_group + GROUP_SPACING - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # the settles meanwhile join this group
                self._last_group = loop.time()
                pending, self._pending = self._pending, {}
                waiting, self._waiting = self._waiting, []
                try:
                    await asyncio.gather(*(self._add(s, n) for s, n in pending.items()))
                except Exception as exc:  # every settle of the group hears why
                    for done in waiting:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for done in waiting:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._group = None

    async def _add(self, subject: str, count: int) -> None:
        known = self._known.get(subject)
        for _ in range(ADD_TRIES):
            if known is None:
                known = await self._read(subject)
            total, seq = known
            headers = {"Nats-Rollup": "sub", "Nats-Expected-Last-Subject-Sequence": str(seq)}
            try:
                ack = await self._pub.publish(subject, str(total + count).encode(), headers)
            except nats.js.errors.APIError as exc:
                if exc.err_code not in WRONG_LAST_SEQUENCE:
                    raise
                known = None  # another process added since: read its sum
                continue
            self._known[subject] = (total + count, int(ack["seq"]))
            return
        raise nats.errors.Error(f"could not add to {subject}: other processes kept adding")

    async def _read(self, subject: str) -> tuple[int, int]:
        try:
            msg = await self._js.get_last_msg(self._names.tally_stream, subject)
        except nats.js.errors.NotFoundError:
            return 0, 0
        return read_sum(msg.data), msg.seq or 0

    def close(self) -> None:
        for done in self._waiting:
            done.cancel()
        self._waiting.clear()
        self._pending.clear()
        if self._group is not None:
            self._group.cancel()
