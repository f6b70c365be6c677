"""Where a NATS queue keeps its calls: the names, and the declaration of each thing.

One stream of calls with work-queue retention, on one subject per function
and kind (``lanes``): ``<base>.calls.<namespace>.<function>`` for calls to
run now, ``<base>.delayed.<namespace>.<function>`` for calls whose
``not_before`` is ahead, ``<base>.retry.<namespace>.<function>`` for calls
waiting for their next attempt, and the namespace ``_`` with the function
``callbacks`` for callback deliveries (names are DNS labels, so ``_`` is no
namespace's). Each subject has a durable pull consumer of its own, made by
the first process that needs it and removed by JetStream once no one asked
it for calls for a day (``NatsNames.consumer_idle``); the old single subject ``<base>.calls``
keeps its consumer, so calls stored before the lanes are claimed too.

Beside it: a stream of dead letters, a stream of tallies (a running sum of
the calls settled for good on ``<base>.tally.sum.processed.<namespace>.<function>``,
of the failed callbacks on ``<base>.tally.sum.callback_failures...``, one
message each, rolled up: ``stats`` reads them, and ``prune`` never lowers
them; ``_nats_tally``), a KV bucket of records, a KV bucket of run locks
(``_nats_locks``), a stream of cancel marks (``_nats_cancels``) and, made on
first use, an object store for results too big for a record (``nats`` tells
what each holds). Any number of
gateways and workers declare them when they start, several at once: what one
finds made already, or made by another at the same moment, it takes as it is.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import nats.js.errors
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

T = TypeVar("T")

# How long a cancel mark is kept (``_nats_cancels``).
MARK_AGE = 24 * 3600.0
# Kinds of lane: the subject's second token.
CALLS, DELAYED, RETRY = "calls", "delayed", "retry"
KINDS = (CALLS, DELAYED, RETRY)
# The lane of callback deliveries: a "function" of their own.
CALLBACK_LANE = ("_", "callbacks")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class NatsNames:
    stream: str
    subject: str  # the calls subject before lanes: still claimed, no longer written
    consumer: str
    dead_stream: str
    dead_subject: str  # prefix; one subject per call under it
    bucket: str
    base: str = "pyfaas"
    locks: str = "pyfaas_runs"
    results: str = "pyfaas_results"
    tally_stream: str = "PYFAAS_TALLY"
    cancel_stream: str = "PYFAAS_CANCELS"
    # A lane's consumer that no one asked for calls this long is removed by
    # JetStream (``inactive_threshold``) and made again on demand: a function
    # removed or renamed leaves no consumer behind for good. Far longer than
    # any call runs, since a call still running on a removed consumer is
    # delivered again by the consumer made anew.
    consumer_idle: float = 24 * 3600.0

    @classmethod
    def for_namespace(cls, namespace: str = "") -> NatsNames:
        suffix = f"_{namespace.upper()}" if namespace else ""
        base = f"pyfaas.{namespace}" if namespace else "pyfaas"
        return cls(
            stream=f"PYFAAS_CALLS{suffix}",
            subject=f"{base}.calls",
            consumer=f"pyfaas-worker-{namespace}" if namespace else "pyfaas-worker",
            dead_stream=f"PYFAAS_DEAD{suffix}",
            dead_subject=f"{base}.dead",
            bucket=f"pyfaas_calls{suffix.lower()}",
            base=base,
            locks=f"pyfaas_runs{suffix.lower()}",
            results=f"pyfaas_results{suffix.lower()}",
            tally_stream=f"PYFAAS_TALLY{suffix}",
            cancel_stream=f"PYFAAS_CANCELS{suffix}",
        )

    @property
    def subjects(self) -> list[str]:
        """Every subject of the calls stream."""
        return [self.subject, *(f"{self.base}.{kind}.*.*" for kind in KINDS)]

    def lane(self, kind: str, namespace: str, function: str) -> str:
        """The subject of a lane; the old single subject for names that are no tokens."""
        if (namespace, function) != CALLBACK_LANE and not (
            _LABEL.match(namespace) and _LABEL.match(function)
        ):
            return self.subject
        return f"{self.base}.{kind}.{namespace}.{function}"

    def lane_of(self, subject: str) -> tuple[str, str, str] | None:
        """(kind, namespace, function) of a lane subject; None for the old subject."""
        parts = subject[len(self.base) + 1 :].split(".")
        if not subject.startswith(self.base + ".") or len(parts) != 3 or parts[0] not in KINDS:
            return None
        return parts[0], parts[1], parts[2]

    @property
    def tally_subject(self) -> str:
        """Prefix of the tally stream's subjects: ``<prefix>.<count>.<namespace>.<function>``."""
        return f"{self.base}.tally"

    @property
    def cancel_subject(self) -> str:
        """Prefix of the cancel marks' subjects, one per call (``_nats_cancels``)."""
        return f"{self.base}.cancel"

    def tally(self, count: str, namespace: str, function: str) -> str | None:
        """The subject a settle counts ``count`` on; None for names that are no tokens."""
        if self.lane(CALLS, namespace, function) == self.subject:
            return None
        return f"{self.tally_subject}.{count}.{namespace}.{function}"

    def tally_sum(self, count: str, namespace: str, function: str) -> str | None:
        """The subject of ``count``'s running sum (``_nats_tally``); None for names no tokens."""
        if self.tally(count, namespace, function) is None:
            return None
        return f"{self.tally_subject}.sum.{count}.{namespace}.{function}"

    def consumer_for(self, subject: str) -> str:
        """The durable consumer of ``subject`` (``.`` is not allowed in its name)."""
        found = self.lane_of(subject)
        if found is None:
            return self.consumer
        return f"{self.consumer}_{'_'.join(found)}"


async def declare(js: JetStreamContext, n: NatsNames, ack_wait: float) -> tuple[KeyValue, KeyValue]:
    """Create what is missing; several processes may do this at once. The two buckets."""
    await _stream(js, n.stream, n.subjects, retention=api.RetentionPolicy.WORK_QUEUE)
    await _stream(js, n.dead_stream, [f"{n.dead_subject}.*", f"{n.dead_subject}.*.*"])
    # Rollups: each new running sum replaces the one before (``_nats_tally``).
    await _stream(js, n.tally_stream, [f"{n.tally_subject}.>"], allow_rollup_hdrs=True)
    await _stream(js, n.cancel_stream, [f"{n.cancel_subject}.*"], max_age=MARK_AGE)
    kv = await _made_or_found(
        lambda: js.create_key_value(bucket=n.bucket, history=1, storage=api.StorageType.FILE),
        lambda: js.key_value(n.bucket),
    )
    locks = await _made_or_found(
        lambda: js.create_key_value(bucket=n.locks, history=1, storage=api.StorageType.FILE),
        lambda: js.key_value(n.locks),
    )
    await ensure_consumer(js, n, n.subject, ack_wait)
    return kv, locks


async def _stream(js: JetStreamContext, name: str, subjects: list[str], **config: Any) -> None:
    """The stream ``name`` with (at least) ``subjects``; one made before lanes takes them on."""
    info = await _made_or_found(
        lambda: js.add_stream(name=name, subjects=subjects, storage=api.StorageType.FILE, **config),
        lambda: js.stream_info(name),
    )
    have = list(info.config.subjects or [])
    # One made before rollups were asked for takes them on.
    rollups = bool(config.get("allow_rollup_hdrs")) and not info.config.allow_rollup_hdrs
    if rollups or any(subject not in have for subject in subjects):
        stream = info.config
        stream.subjects = have + [s for s in subjects if s not in have]
        stream.allow_rollup_hdrs = stream.allow_rollup_hdrs or rollups
        await js.update_stream(stream)


async def ensure_consumer(
    js: JetStreamContext, n: NatsNames, subject: str, ack_wait: float
) -> None:
    """The durable consumer of ``subject``, made if missing."""
    name = n.consumer_for(subject)
    try:
        await js.consumer_info(n.stream, name)
    except nats.js.errors.NotFoundError:
        await _made_or_found(
            lambda: js.add_consumer(n.stream, config=consumer_config(n, ack_wait, subject)),
            lambda: js.consumer_info(n.stream, name),
        )


def consumer_config(n: NatsNames, ack_wait: float, subject: str = "") -> api.ConsumerConfig:
    """A lane's consumer: explicit acks, the lease as ``ack_wait``, no redelivery limit,
    removed once idle for ``consumer_idle``."""
    subject = subject or n.subject
    return api.ConsumerConfig(
        durable_name=n.consumer_for(subject),
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=-1,
        filter_subject=subject,
        inactive_threshold=n.consumer_idle,
    )


async def _made_or_found(make: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T]]) -> T:
    """Create something, or take the one another process created at the same moment.

    JetStream can answer a create that races another's with a 400 ("subjects
    overlap with an existing stream") rather than with what was created.
    """
    try:
        return await make()
    except nats.js.errors.BadRequestError:
        return await find()
