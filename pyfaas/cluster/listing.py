"""The keys of a KV bucket as its stream's leader holds them, not as some replica does.

nats-py's ``KeyValue.keys()`` reads the bucket through an ordered consumer,
an ephemeral consumer that JetStream may place on any replica of the stream,
and that replica answers from its own copy. A NATS node just restarted is
such a replica while it catches up, and its copy can lack the keys written
while it was down, or every key (a bucket whose values expired there): a
host's full read of the definitions through it would take functions that
exist for removed ones, and stop running them. Measured on a three-node
cluster: a host's ``GET /system/hosts`` listed no host at all through a
consumer on the node restarted 17 s before.

``keys`` asks the stream's leader instead, for its subjects
(``STREAM.INFO`` with a subjects filter), as a get asks the leader for a
value. A key whose last message is a delete or purge marker is still a
subject of the stream: the caller's get of each key tells them apart.
"""

from __future__ import annotations

from nats.js.kv import KeyValue


async def keys(kv: KeyValue) -> list[str]:
    """Every key with a message in the bucket, deleted ones included, as the leader has them."""
    # nats-py keeps the bucket's stream and subject prefix, and its JetStream context,
    # on the KeyValue; it offers no listing of them that the leader answers.
    prefix: str = kv._pre
    info = await kv._js.stream_info(kv._stream, subjects_filter=f"{prefix}>")
    subjects = info.state.subjects or {}
    return sorted(subject[len(prefix) :] for subject in subjects)
