"""The queue's streams and buckets made with the cluster's replicas, before the queue makes them.

The NATS queue declares what it needs (``PYFAAS_CALLS``, ``KV_pyfaas_calls``
and the rest, ``pyfaas.queue.backends._nats_layout``) with one replica,
and ``replication`` raised each to the buckets' count afterwards. nats-server
2.9 mishandles a stream made with one replica and raised later: when the
node it was made on restarts, that node replays the stream's first
assignment and leads a group of its own with its stale copy for about a
second, beside the real leader the others elected while it was down
(its log says "new stream leader" within 50 ms of its start, before its
routes are up). Measured on three nodes: through the restarted node, reads
of messages stored while it was down said "not found" and publishes were
acknowledged with its own, older sequences, until it reset the stream
("Resetting stream cluster state"). For the queue that is a second, stale
copy of its calls and records: an accepted call can lose its record. A
stream made with three replicas has no such moment.

So every host of a cluster declares them first, as it joins (``joining``),
with the declarations of the queue itself (one place says what the queue
keeps), through a JetStream context that makes every stream with
``replicas``; the queue, starting after, finds them made and takes them as
they are. The object store of large results, which the queue makes on first
use, is made here too. ``replication`` still raises any stream made before.
"""

from __future__ import annotations

from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api

from pyfaas.queue.backends._nats_layout import NatsNames, declare

# The lease the queue's own declaration gives the consumer of its first subject when
# the gateway (``NatsQueue``'s default) declares it first, as it did before this.
ACK_WAIT = 30.0


class ReplicatedJetStream(JetStreamContext):
    """A JetStream context whose every new stream (a bucket's too) keeps ``replicas`` copies."""

    def __init__(self, nc: Client, replicas: int, timeout: float) -> None:
        super().__init__(nc, timeout=timeout)
        self._replicas = replicas

    async def add_stream(
        self, config: api.StreamConfig | None = None, **params: Any
    ) -> api.StreamInfo:
        return await super().add_stream(config, **{**params, "num_replicas": self._replicas})


async def declare_queue(nc: Client, replicas: int, request_timeout: float) -> None:
    """Make the default queue's streams, buckets and object store with ``replicas`` copies."""
    js = ReplicatedJetStream(nc, replicas, request_timeout)
    names = NatsNames.for_namespace()
    await declare(js, names, ACK_WAIT)
    try:
        await js.object_store(names.results)
    except nats.js.errors.BucketNotFoundError:
        config = api.ObjectStoreConfig(storage=api.StorageType.FILE, replicas=replicas)
        try:
            await js.create_object_store(names.results, config)
        except nats.js.errors.BadRequestError:  # another host made it at the same moment
            await js.object_store(names.results)
