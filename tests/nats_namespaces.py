"""Deleting what a test's NATS queue namespace made on the session's nats-server.

Every NATS-backed test gets a namespace of its own on the one nats-server of
the session; left behind, a run's thousand namespaces are thousands of
streams and consumers that every later test's JetStream requests wade
through. A test's queue fixture drops its namespace after closing it.
"""

from __future__ import annotations

import contextlib

import nats
import nats.errors

from pyfaas.queue.backends._nats_layout import NatsNames


def _streams(names: NatsNames) -> set[str]:
    """The namespace's streams, its KV buckets' streams among them."""
    buckets = (names.bucket, names.locks, names.results)
    return {
        names.stream,
        names.dead_stream,
        names.tally_stream,
        names.cancel_stream,
        *(f"KV_{bucket}" for bucket in buckets),
    }


async def drop_namespace(url: str, namespace: str) -> int:
    """Delete the streams (and so the consumers) of ``namespace``; how many went."""
    if not namespace:
        raise ValueError("the default namespace is not a test's to drop")
    own = _streams(NatsNames.for_namespace(namespace))
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=5)
    dropped = 0
    try:
        js = nc.jetstream(timeout=10)
        for info in await js.streams_info():
            name = info.config.name or ""
            if name in own:
                with contextlib.suppress(nats.errors.Error):
                    await js.delete_stream(name)
                    dropped += 1
    finally:
        await nc.close()
    return dropped
