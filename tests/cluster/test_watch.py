"""A bucket's watcher (``cluster.watch``) against a real nats-server.

It gives what nats-py's own ``KeyValue.watchall`` gives (the last value of
each key first, then every change with its revision and operation), and a
watcher whose consumer is gone, as when the NATS node holding it dies, makes
it anew by itself and goes on from the change after the last it delivered.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from pyfaas.cluster.watch import Bucket, BucketWatcher

pytestmark = [pytest.mark.nats]


def fields(entry: KeyValue.Entry) -> tuple[object, ...]:
    return (entry.key, entry.value, entry.revision, entry.operation)


async def taken(watcher: BucketWatcher, count: int) -> list[KeyValue.Entry]:
    return [await asyncio.wait_for(watcher.updates(), 10.0) for _ in range(count)]


async def bucket(js: JetStreamContext) -> tuple[str, KeyValue]:
    name = f"w{uuid.uuid4().hex[:8]}"
    return name, await js.create_key_value(bucket=name, history=5)


async def test_it_gives_what_watchall_gives(js: JetStreamContext) -> None:
    name, kv = await bucket(js)
    await kv.put("a", b"1")
    await kv.put("b", b"2")
    await kv.put("a", b"3")
    ours = await Bucket(js, name).watch()
    theirs = await kv.watchall()
    try:
        await kv.put("c", b"4")
        await kv.delete("b")
        await kv.purge("c")
        expected = []
        while len(expected) < 5:
            entry = await theirs.updates(timeout=10.0)
            if entry is not None:  # nats-py's marker after the first values
                expected.append(fields(entry))
        assert [fields(e) for e in await taken(ours, 5)] == expected
        assert [e[0] for e in expected[:2]] == ["b", "a"]  # the last value of each key first
        assert [e[3] for e in expected[2:]] == [None, "DEL", "PURGE"]
    finally:
        await ours.stop()
        await theirs.stop()  # type: ignore[no-untyped-call]


async def test_a_lost_consumer_is_made_anew_from_where_it_was(js: JetStreamContext) -> None:
    name, kv = await bucket(js)
    stream = f"KV_{name}"
    await kv.put("a", b"1")
    watcher = await Bucket(js, name, heartbeat=0.2).watch()
    try:
        assert fields((await taken(watcher, 1))[0]) == ("a", b"1", 1, None)
        [lost] = await js.consumers_info(stream)  # type: ignore[attr-defined]
        await js.delete_consumer(stream, lost.name)
        await kv.put("b", b"2")  # while no consumer delivers: not to be missed
        began = time.monotonic()
        changes = await taken(watcher, 1)
        await kv.put("c", b"3")
        changes += await taken(watcher, 1)
        assert [fields(e) for e in changes] == [("b", b"2", 2, None), ("c", b"3", 3, None)]
        [made] = await js.consumers_info(stream)  # type: ignore[attr-defined]
        assert made.name != lost.name
        print(
            f"\nconsumer made anew and the change delivered {time.monotonic() - began:.2f}s after"
        )
    finally:
        await watcher.stop()
