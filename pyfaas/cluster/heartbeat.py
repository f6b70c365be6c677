"""Host heartbeats: each host puts its record into a KV bucket whose values expire.

The bucket's ``ttl`` is the limit: a host that stops beating (stopped, killed,
cut off from NATS) has no value left after ``ttl`` and drops out of
``GET /system/hosts``. Readers also skip records older than ``ttl`` by their
own timestamp, for a bucket declared earlier with a longer one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import nats.errors
import nats.js.errors
import orjson
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from pyfaas._tasks import stop as stop_task
from pyfaas.cluster import listing, names

log = logging.getLogger("pyfaas.cluster")
INTERVAL = 2.0
TTL = 10.0


@dataclass(frozen=True)
class HostRecord:
    name: str
    address: str
    version: str
    last_heartbeat: str  # RFC 3339
    replicas: dict[str, int]  # "name.namespace" -> available replicas on this host

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, data: bytes) -> HostRecord:
        raw = orjson.loads(data)
        return cls(
            name=str(raw["name"]),
            address=str(raw["address"]),
            version=str(raw["version"]),
            last_heartbeat=str(raw["last_heartbeat"]),
            replicas={str(k): int(v) for k, v in dict(raw.get("replicas") or {}).items()},
        )


class Heartbeat:
    """Beats every ``interval`` seconds until stopped; removes its record on a clean stop."""

    def __init__(
        self,
        kv: KeyValue,
        name: str,
        describe: Callable[[], Awaitable[HostRecord]],
        interval: float = INTERVAL,
    ) -> None:
        self._kv = kv
        self._key = names.host_key(name)
        self._describe = describe
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    async def bucket(js: JetStreamContext, ttl: float = TTL, replicas: int = 1) -> KeyValue:
        return await js.create_key_value(
            bucket=names.HOSTS_BUCKET, history=1, ttl=ttl, replicas=replicas
        )

    async def beat(self) -> None:
        record = await self._describe()
        await self._kv.put(self._key, record.encode())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
        with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
            await self._kv.delete(self._key)

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                # NATS away: the record expires on its own; beat again once it is back.
                log.warning("heartbeat not stored: %r", exc)
            await asyncio.sleep(self._interval)


async def hosts(kv: KeyValue, ttl: float = TTL) -> list[HostRecord]:
    """The hosts that beat within ``ttl``, by name."""
    keys = await listing.keys(kv)  # the leader's: a restarted node's replica may have none
    horizon = datetime.now(UTC) - timedelta(seconds=ttl)
    found = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            continue
        if not entry.value:
            continue
        record = HostRecord.decode(entry.value)
        if datetime.fromisoformat(record.last_heartbeat) >= horizon:
            found.append(record)
    return sorted(found, key=lambda r: r.name)
