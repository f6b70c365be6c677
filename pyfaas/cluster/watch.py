"""A bucket's watcher that makes its consumer anew by itself when that consumer's node dies.

``KeyValue.watchall`` watches through an ordered consumer with nats-py's
default idle heartbeat of 5 s, and nats-py makes an ordered consumer anew
only after two heartbeats missed: a watcher whose NATS node was SIGKILLed
delivered nothing for 10 s. No advisory says that such a consumer is gone,
and asking the server is slow then: it answers a stream's consumer list
only after waiting on every consumer's node (about 4 s with one gone,
measured on nats-server 2.9), and a lost consumer's own info not at all.

``Bucket.watch`` subscribes to the bucket's subjects through the same kind
of ordered consumer, with an idle heartbeat of ``HEARTBEAT`` seconds, so
nats-py's own activity check makes the consumer anew on a live node within
two of them, again each time until one is made, from the stream sequence
after the last change delivered: nothing is missed and nothing read again.
The entries are ``KeyValue.Entry`` as ``watchall`` gives them, the first
values of each key first.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

HEARTBEAT = 0.5
# An ephemeral consumer nobody listens to (its host away, or one made twice by
# resets while NATS was away) is removed by the server after this; a live
# watcher is never without a listener, and one removed while its host was
# away is made anew from where it was (below).
INACTIVE = 10.0
_OPERATION = "KV-Operation"


class BucketWatcher:
    """The changes to one bucket, as its ordered consumer delivers them."""

    def __init__(self, bucket: str) -> None:
        self._bucket = bucket
        self._prefix = f"$KV.{bucket}."
        self._updates: asyncio.Queue[KeyValue.Entry] = asyncio.Queue()
        self._sub: JetStreamContext.PushSubscription | None = None

    async def start(self, js: JetStreamContext, heartbeat: float) -> None:
        self._sub = await js.subscribe(
            f"{self._prefix}>",
            stream=f"KV_{self._bucket}",
            cb=self._deliver,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
            idle_heartbeat=heartbeat,
            inactive_threshold=INACTIVE,
        )

    async def _deliver(self, msg: Msg) -> None:
        meta = msg.metadata
        await self._updates.put(
            KeyValue.Entry(
                bucket=self._bucket,
                key=msg.subject[len(self._prefix) :],
                value=msg.data,
                revision=meta.sequence.stream,
                delta=meta.num_pending,
                created=None,  # unused here; nats-py's own watcher puts a float in this int field
                operation=(msg.headers or {}).get(_OPERATION),
            )
        )

    async def updates(self) -> KeyValue.Entry:
        """The next change, when it comes."""
        return await self._updates.get()

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None


@dataclass(frozen=True)
class Bucket:
    """One key-value bucket to watch, through this JetStream context."""

    js: JetStreamContext
    name: str
    heartbeat: float = HEARTBEAT

    async def watch(self) -> BucketWatcher:
        watcher = BucketWatcher(self.name)
        await watcher.start(self.js, self.heartbeat)
        return watcher
