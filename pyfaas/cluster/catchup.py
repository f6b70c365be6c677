"""Brings a host up to date as soon as NATS is whole again after a node's loss.

While the buckets' streams elect new leaders after a node's loss, the full
reads time out, after which the reconciler would wait its whole interval
before it reads again (some 15 s more, measured on a three-node cluster).

``CatchUp`` listens for what says NATS is back: JetStream's advisory that a
bucket's stream elected a leader (``$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED``)
and the client's reconnection to another server. Either has the reconciler
read the buckets whole, again every ``retry`` seconds until a read
succeeds. The watchers are left as they are: one whose consumer died with
its node makes it anew by itself (``cluster.watch``), and one made anew
here would wait on JetStream's meta leader as well.
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

from pyfaas.cluster import names
from pyfaas.cluster.reconciler import Reconciler, cancel
from pyfaas.errors import PyfaasError

log = logging.getLogger("pyfaas.cluster")
LEADER_ELECTED = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED"
RETRY = 0.5
# How long to keep reading after a sign of recovery before leaving it to the periodic sync.
PERSIST = 60.0


class CatchUp:
    def __init__(
        self,
        nc: Client,
        reconciler: Reconciler,
        retry: float = RETRY,
    ) -> None:
        self._nc = nc
        self._reconciler = reconciler
        self._streams = {f"KV_{names.FUNCTIONS_BUCKET}", f"KV_{names.SECRETS_BUCKET}"}
        self._retry = retry
        self._due = asyncio.Event()
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(f"{LEADER_ELECTED}.*", cb=self._on_advisory)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel([self._task])
            self._task = None
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None

    def trigger(self) -> None:
        """NATS may have lost changes on their way to this host: read the buckets whole."""
        self._due.set()

    async def _on_advisory(self, msg: Msg) -> None:
        stream = msg.subject.rpartition(".")[2]
        if stream in self._streams:
            log.info("stream %s has a new leader: reading the buckets", stream)
            self.trigger()

    async def _run(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await self._recover()
            except Exception:  # a bug must not end the recovery of later losses
                log.exception("buckets not read")

    async def _recover(self) -> None:
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
