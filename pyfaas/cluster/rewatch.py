"""Brings a host back to the buckets as soon as NATS is whole again after a node's loss.

A bucket's watcher is an ephemeral consumer on one NATS node. When that node
dies the consumer goes with it, and the client is not told: nats-py notices
only after two missed idle heartbeats (10 s) and then makes it anew, while
the full reads meanwhile time out until the buckets' streams have elected
new leaders, after which the reconciler waits its whole interval before it
reads again (some 15 s more, measured on a three-node cluster).

``Rewatch`` listens for what says NATS is back: JetStream's advisory that a
bucket's stream elected a leader (``$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED``)
and the client's reconnection to another server; and every ``probe`` seconds
it lists each bucket's consumers, for a watcher whose node died while the
stream's leader lived (no advisory says that): one delivering to this
client's inboxes must be there. Any of these makes the reconciler's watchers
anew and reads the buckets whole, again every ``retry`` seconds until a read
succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.kv import KeyValue

from pyfaas.cluster import names
from pyfaas.cluster.reconciler import Reconciler, cancel
from pyfaas.errors import PyfaasError

log = logging.getLogger("pyfaas.cluster")
LEADER_ELECTED = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED"
RETRY = 0.5
PROBE = 2.0
# How long to keep reading after a sign of recovery before leaving it to the periodic sync.
PERSIST = 60.0


class Rewatch:
    def __init__(
        self,
        nc: Client,
        reconciler: Reconciler,
        buckets: list[KeyValue],
        retry: float = RETRY,
        probe: float = PROBE,
    ) -> None:
        self._nc = nc
        self._reconciler = reconciler
        self._buckets = buckets  # the functions' and the secrets', as the reconciler watches them
        self._streams = {f"KV_{names.FUNCTIONS_BUCKET}", f"KV_{names.SECRETS_BUCKET}"}
        self._retry = retry
        self._probe = probe
        self._js = nc.jetstream(timeout=probe)
        # Every inbox of this client starts so (nats-py's nuid keeps its prefix).
        self._inboxes = nc.new_inbox()[: len("_INBOX.") + 12]
        self._due = asyncio.Event()
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._prober: asyncio.Task[None] | None = None
        self.recoveries = 0  # how many times the watchers were made anew (for tests)

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(f"{LEADER_ELECTED}.*", cb=self._on_advisory)
        self._task = asyncio.create_task(self._run())
        self._prober = asyncio.create_task(self._probing())

    async def stop(self) -> None:
        if self._task is not None and self._prober is not None:
            await cancel([self._prober, self._task])
            self._task = self._prober = None
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None

    def trigger(self) -> None:
        """NATS may have lost this host's watchers: make them anew and read the buckets."""
        self._due.set()

    async def _on_advisory(self, msg: Msg) -> None:
        stream = msg.subject.rpartition(".")[2]
        if stream in self._streams:
            log.info("stream %s has a new leader: watching the buckets anew", stream)
            self.trigger()

    async def _probing(self) -> None:
        while True:
            await asyncio.sleep(self._probe)
            try:
                if not await self._watched():
                    log.info("a watcher of the buckets is gone: watching them anew")
                    self.trigger()
            except (nats.errors.Error, TimeoutError):
                pass  # NATS away: its return says so (a reconnection or an advisory)

    async def _watched(self) -> bool:
        """Whether each bucket's stream has a consumer delivering to this client."""
        for stream in self._streams:
            consumers = await self._js.consumers_info(stream)
            if not any(
                (c.config.deliver_subject or "").startswith(self._inboxes) for c in consumers
            ):
                return False
        return True

    async def _run(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await self._recover()
            except Exception:  # a bug must not end the recovery of later losses
                log.exception("watchers not made anew")

    async def _recover(self) -> None:
        await self._reconciler.stop()
        self._reconciler.start(*self._buckets)
        self.recoveries += 1
        deadline = time.monotonic() + PERSIST
        while True:
            try:
                await self._reconciler.sync()
                return
            except (nats.errors.Error, TimeoutError, PyfaasError) as exc:
                if time.monotonic() > deadline:
                    log.warning("cluster state still unavailable: %r", exc)
                    return
            await asyncio.sleep(self._retry)
