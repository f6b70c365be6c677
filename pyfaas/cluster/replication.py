"""Keeps every stream of the platform on as many NATS nodes as the cluster's buckets.

The cluster's own buckets are declared with ``PYFAAS_CLUSTER_KV_REPLICAS``
replicas, but the queue's streams and buckets (``PYFAAS_CALLS`` and the rest,
``KV_pyfaas_calls``, ...) are declared by the queue backend on one node. On
a cluster host a NATS node's loss must not take the queue with it, nor the
calls it holds, so each host raises the replicas of every stream whose name
is the platform's (``PYFAAS_*``, ``KV_pyfaas_*``, ``OBJ_pyfaas_*``) to the
buckets' count: at ``serve``'s start for the streams there already, and
every ``interval`` seconds in the gateway for the ones made since (the queue
makes its streams as it starts, and some only when first used). JetStream
copies a stream to its new replicas in the background and scales the
stream's durable consumers with it.
"""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from nats.js import JetStreamContext

from pyfaas.cluster.reconciler import cancel

log = logging.getLogger("pyfaas.cluster")
PREFIXES = ("PYFAAS_", "KV_PYFAAS_", "OBJ_PYFAAS_")
INTERVAL = 2.0


def ours(stream: str) -> bool:
    return stream.upper().startswith(PREFIXES)


async def replicate(js: JetStreamContext, replicas: int) -> list[str]:
    """Raise the platform's streams with fewer than ``replicas`` to it; the ones raised."""
    raised = []
    for info in await js.streams_info():
        config = info.config
        if config.name is None or not ours(config.name):
            continue
        if (config.num_replicas or 1) >= replicas:
            continue
        config.num_replicas = replicas
        await js.update_stream(config)
        raised.append(config.name)
        log.info("stream %s now kept on %d NATS nodes", config.name, replicas)
    return raised


class Replication:
    """``replicate`` every ``interval`` seconds until stopped, quiet while NATS is away."""

    def __init__(self, js: JetStreamContext, replicas: int, interval: float = INTERVAL) -> None:
        self._js = js
        self._replicas = replicas
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._replicas > 1:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel([self._task])
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await replicate(self._js, self._replicas)
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                log.debug("streams not replicated this round: %r", exc)
            await asyncio.sleep(self._interval)
