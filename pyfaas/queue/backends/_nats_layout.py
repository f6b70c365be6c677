"""Where a NATS queue keeps its calls: the names, and the declaration of each thing.

A stream of calls with work-queue retention and a durable pull consumer on
it, a stream of dead letters, and a KV bucket of records (``nats`` tells
what each holds). Any number of gateways and workers declare them when they
start, several at once: what one finds made already, or made by another at
the same moment, it takes as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import nats.js.errors
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

T = TypeVar("T")


@dataclass(frozen=True)
class NatsNames:
    stream: str
    subject: str
    consumer: str
    dead_stream: str
    dead_subject: str  # prefix; one subject per call under it
    bucket: str

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
        )


async def declare(js: JetStreamContext, n: NatsNames, ack_wait: float) -> KeyValue:
    """Create what is missing; several processes may do this at once. The record bucket."""
    await _made_or_found(
        lambda: js.add_stream(
            name=n.stream,
            subjects=[n.subject],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.WORK_QUEUE,
        ),
        lambda: js.stream_info(n.stream),
    )
    await _made_or_found(
        lambda: js.add_stream(
            name=n.dead_stream, subjects=[f"{n.dead_subject}.*"], storage=api.StorageType.FILE
        ),
        lambda: js.stream_info(n.dead_stream),
    )
    kv = await _made_or_found(
        lambda: js.create_key_value(bucket=n.bucket, history=1, storage=api.StorageType.FILE),
        lambda: js.key_value(n.bucket),
    )
    try:
        await js.consumer_info(n.stream, n.consumer)
    except nats.js.errors.NotFoundError:
        await _made_or_found(
            lambda: js.add_consumer(n.stream, config=consumer_config(n, ack_wait)),
            lambda: js.consumer_info(n.stream, n.consumer),
        )
    return kv


def consumer_config(n: NatsNames, ack_wait: float) -> api.ConsumerConfig:
    """The workers' consumer: explicit acks, the lease as ``ack_wait``, no redelivery limit."""
    return api.ConsumerConfig(
        durable_name=n.consumer,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=-1,
        filter_subject=n.subject,
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
