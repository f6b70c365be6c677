"""The queue interface, with its contract in the docstrings.

Backends: ``memory`` (a real in-process twin for fast tests), ``sqlite``
(embedded, the default; a file under the state directory) and ``nats``
(JetStream through nats-py). The same contract suite runs against all three.

Contract:

* ``put`` returns only once the call is durably stored (for ``memory``: once
  it is in the structure). A second ``put`` with the same call id stores
  nothing and returns ``False``: for as long as the call's record exists
  (SQLite, memory: for ever), and on NATS at least within the stream's
  duplicate window (two minutes) even if the first put left no record.
  If the call cannot be stored it raises ``QueueUnavailable`` and nothing
  was stored (SQLite on a full disk says "queue storage is full", and
  stores again once there is room); the gateway then answers 503, never a
  false 202. Where a backend cannot tell whether it stored the call (NATS:
  a publish whose acknowledgement never came; SQLite: a writer process that
  died with the put unanswered), it raises ``QueueUncertain`` naming the
  call id instead: the call may run, and a put again with that id runs it
  once; the gateway answers 503 with the ``X-Call-Id``.
* ``claim`` hands out up to ``limit`` calls, oldest first, each under a lease
  of ``lease`` seconds, waiting up to ``wait`` seconds for the first one.
  A call whose lease runs out (its worker died) is handed out again with
  ``attempt`` increased. ``extend`` renews a lease; it raises ``NotFound``
  if the lease was lost. JetStream keeps one lease length per consumer, so
  workers sharing a queue use one ``lease`` (the worker's ``ack_wait``).
* A stored message that holds no call a worker could run (a stray publish
  on the calls subject, a corrupt row) is never handed out and never makes
  ``claim`` fail: ``claim`` sets it aside as a dead letter whose record
  says ``error = "undecodable payload"``, and hands out the calls after it.
  Its id is the call id it names, if that is usable and not another call's,
  else one made from where it was stored (NATS: ``seq-<stream sequence>``).
  Only backends whose storage others can write hold such messages
  (``foreign_writes``).
* ``ack`` settles a delivery for good (success or final failure) and records
  the outcome; ``retry`` puts it back to be claimed again after ``delay``
  seconds; ``bury`` moves it to the dead letters. Each of them settles a
  delivery once; settling a lost lease raises ``NotFound`` and changes
  nothing: neither the call's record nor the delivery another claim holds.
  A lease is lost once the delivery was settled or another claim took the
  call; a backend that cannot see another process's claim (JetStream) counts
  a lease as lost as soon as it has run out.
* ``record`` answers what happened to a call; ``dead_letters`` lists buried
  calls and set-aside messages, newest first; ``replay`` queues a dead
  letter again (``NotFound`` if there is none by that id; a set-aside
  message is set aside again by the next claim).

Steering (results, cancel, delays, idempotency, fair dispatch):

* A second ``put`` of a call id whose stored call has another
  ``fingerprint`` (both non-empty) raises ``Conflict`` naming the id and
  stores nothing: a reused ``X-Call-Id`` or ``Idempotency-Key`` for another
  function or body never pre-empts the first call. The gateway derives the
  call id of a call with an ``Idempotency-Key`` from the key, the function
  and the namespace, so the same key answers the first call's id, on every
  gateway sharing the queue, for as long as the first call's record exists.
* A call whose ``not_before`` is in the future is in state ``delayed`` and
  is not handed out before then; this survives a restart. A call not
  started by its ``expire_at`` is never run: the claim that finds it sets it
  aside as a dead letter in state ``expired`` with ``reason = "expired"``
  (only a call never started expires: a retry or a redelivery has begun).
  A replayed expired call runs: the replay drops its ``expire_at``.
* ``claim`` hands calls of different functions (``name.namespace``) out in
  turn, oldest first within each function: with many calls of one function
  queued before one call of another, a claim of two takes the other's call
  with the first of the many. Callback deliveries (``answer`` set) count as
  a function of their own.
* ``ack``, ``retry`` and ``bury`` keep the ``Outcome``'s attempt in the
  record's ``history`` (every attempt: its times, status and error), and
  ``bury`` its ``reason``. ``ack`` and ``bury`` store ``Outcome.result``
  (the function's answer, already cut to the worker's cap) with the record;
  ``result`` returns it (None while there is none, or for an unknown id).
* ``cancel`` cancels a call that has not started: queued, delayed or
  retrying. It answers the record in state ``cancelled``, and the call is
  never handed out again. ``NotFound`` for an unknown id; ``Conflict``
  (saying the state) for a call that is running or finished. A claim that
  races the cancel either wins (the call runs, the cancel is a ``Conflict``)
  or loses (the call never runs); never both.
* ``dead_letters`` takes a ``DeadLetterFilter`` (function, reason, since);
  ``dead_letter`` answers one with the request it holds (``NotFound`` if
  there is none); ``replay_where`` and ``purge`` act on every dead letter
  the filter matches and answer how many.
* ``prune`` removes the records and results of calls finished before
  ``before`` (Unix seconds), dead letters included, and answers how many;
  the gateway runs it for the retention setting. A pruned call id may be
  used again.
* ``stats`` counts per function (``FunctionStats``; callback deliveries
  under ``"callbacks"``, as they take turns) and in all, at a cost
  that does not grow with the number of queued calls beyond a few
  milliseconds at 100k. ``processed`` and ``callback_failures`` are
  counters kept with the settles (ack and bury, not retry): ``prune``,
  ``purge`` and ``replay`` never lower them.

Listing:

* ``calls`` answers a ``CallPage`` of the records a ``CallFilter`` picks
  (function name, namespace, state as ``record`` would show it), newest
  first, at most ``limit``; callback deliveries are not listed (their
  outcome is their call's). ``CallPage.next`` is an opaque cursor: a
  filter with ``before`` set to it answers the records after the page's
  last; None once there are no more. Memory and SQLite order by
  submission; NATS by the record's last write (its records live in a KV
  bucket kept in write order: a call that changed state since moves to the
  top), the same order for calls not changed since their put. A page
  reads a bounded stretch of storage for a filter no index answers (SQLite:
  a state or a namespace; NATS: any), so a page of a rare filter may hold
  fewer than ``limit`` records, or none, while ``next`` is set; following
  ``next`` lists every match once. The cost of a page does not grow with
  the number of records. A cursor no backend made is a ``BadRequest``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from pyfaas.queue.envelope import (
    CallRecord,
    CallState,
    Delivery,
    Outcome,
    QueuedCall,
    StoredResult,
)


@dataclass(frozen=True)
class FunctionStats:
    """One function's share of the queue (``name.namespace``)."""

    function: str
    queued: int = 0  # waiting to be claimed now (not delayed)
    delayed: int = 0  # waiting for their not_before
    running: int = 0
    retrying: int = 0  # failed, waiting for their next attempt
    dead: int = 0
    oldest_age: float = 0.0  # seconds the oldest queued call has waited; 0 if none
    # Counters since the queue was created; ``prune`` never lowers them.
    processed: int = 0  # calls settled for good by ack or bury
    # Callback deliveries that failed for good, in the row of their call's
    # function (a delivery knows it), not under "callbacks".
    callback_failures: int = 0

    @staticmethod
    def zero_counts() -> dict[str, float]:
        """A function's counts being added up, by field name, before ``from_counts``."""
        return dict.fromkeys(_COUNTED, 0.0)

    @classmethod
    def from_counts(cls, counts: Mapping[str, Mapping[str, float]]) -> tuple[FunctionStats, ...]:
        """One row per function of ``counts`` (as ``zero_counts`` began them), by name."""
        return tuple(
            cls(
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


_COUNTED = (
    "queued",
    "delayed",
    "running",
    "retrying",
    "dead",
    "oldest_age",
    "processed",
    "callback_failures",
)


@dataclass(frozen=True)
class QueueStats:
    queued: int
    running: int
    dead: int
    delayed: int = 0
    retrying: int = 0
    functions: tuple[FunctionStats, ...] = ()


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters: every field that is set must match."""

    function: str | None = None  # "name.namespace"
    reason: str | None = None  # exact, e.g. "expired"
    since: float | None = None  # finished at or after (Unix seconds)


@dataclass(frozen=True)
class CallFilter:
    """Which calls ``calls`` lists: every field that is set must match."""

    function: str | None = None  # the function's name
    namespace: str | None = None
    state: CallState | None = None  # as ``record`` shows it (a delayed call due is queued)
    before: str | None = None  # a ``CallPage.next``: the calls listed after that page


@dataclass(frozen=True)
class CallPage:
    """A page of ``calls``, newest first, and the cursor of the next (None: the last)."""

    records: tuple[CallRecord, ...]
    next: str | None = None


# The most records one ``calls`` page holds, whatever the limit asked.
MAX_PAGE = 500


class Queue(Protocol):
    # What a backend may lack, read by the contract suite. True where other
    # programs can write where the calls are kept (anyone may publish on a
    # NATS subject or write a SQLite file), so that a stored message may hold
    # no call at all; the memory twin holds only what its own ``put`` stored.
    foreign_writes: ClassVar[bool]

    async def start(self) -> None:
        """Connect, create tables or streams and consumers; idempotent."""

    async def close(self) -> None: ...

    async def put(self, call: QueuedCall) -> bool: ...

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]: ...

    async def extend(self, delivery: Delivery, lease: float) -> None: ...

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None: ...

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None: ...

    async def bury(self, delivery: Delivery, outcome: Outcome) -> None: ...

    async def mark_running(self, delivery: Delivery) -> None:
        """Record that the worker started the call (state ``running``)."""

    async def record(self, call_id: str) -> CallRecord | None: ...

    async def dead_letters(
        self, limit: int = 100, where: DeadLetterFilter | None = None
    ) -> list[CallRecord]: ...

    async def dead_letter(self, call_id: str) -> tuple[CallRecord, QueuedCall | None]: ...

    async def replay(self, call_id: str) -> None: ...

    async def replay_where(self, where: DeadLetterFilter) -> int: ...

    async def purge(self, where: DeadLetterFilter) -> int: ...

    async def result(self, call_id: str) -> StoredResult | None: ...

    async def cancel(self, call_id: str) -> CallRecord: ...

    async def prune(self, before: float) -> int: ...

    async def stats(self) -> QueueStats: ...

    async def calls(self, where: CallFilter | None = None, limit: int = 50) -> CallPage: ...
