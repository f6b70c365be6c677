"""What ``pyfaas serve --cluster`` does before it starts anything: check, then configure.

``prepare`` parses the server URLs, loads the key and opens the cluster's
buckets once with it, so a wrong key stops ``serve`` with one line before a
process starts; it returns the environment the gateway reads
(``pyfaas.cluster.settings``). The queue of a cluster host defaults to the
NATS JetStream queue on the cluster's first server, so an asynchronous call
accepted by any host runs on any host's queue-worker.

The queue gets every server of the cluster (``queue_url``), the first that
answers at the time put first, and moves to another when its server is lost.
``serve`` asks again at every start of a component, so a gateway or
queue-worker (re)started while a node is down connects to a live one first.
With more than one replica, the queue's streams are made here, before the
queue starts, with that many (``queue_streams``: one made with a single
replica and raised later gets a stale second leader when its node restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import nats.errors
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import ServiceUnavailableError

from pyfaas.cluster import names
from pyfaas.cluster.queue_streams import declare_queue
from pyfaas.cluster.replication import replicate
from pyfaas.cluster.secretbox import SecretBox, load_key
from pyfaas.cluster.settings import kv_replicas, parse_servers
from pyfaas.cluster.store import ClusterStore
from pyfaas.errors import ConfigError, PyfaasError, ServiceUnavailable

CHECK_TIMEOUT = 10.0
JOIN_WAIT = 30.0  # seconds a settling JetStream is waited for at start
JOIN_RETRY = 0.5
PROBE_TIMEOUT = 0.5


@dataclass(frozen=True)
class Admin:
    """The admin credentials and callback signing key, one set for every host of a cluster.

    Sealed with the cluster key in the secrets bucket (``names.ADMIN_KEY``) by
    the first host to start, from the credentials it had; every later host
    takes them in place of its own, so one login works on every host's
    gateway (a load balancer in front needs no more) and a callback's
    signature checks whichever host's worker sent it.
    """

    user: str
    password: str
    signing_key: str

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, data: bytes) -> Admin:
        raw = orjson.loads(data)
        return cls(str(raw["user"]), str(raw["password"]), str(raw["signing_key"]))


def prepare(urls: str, key_file: Path | None, admin: Admin) -> tuple[dict[str, str], Admin, bool]:
    """The gateway's cluster environment, the cluster's ``Admin`` and whether ``admin`` became it.

    ``admin`` is this host's own, proposed for a cluster that has none yet.
    """
    servers = parse_servers(urls)
    if not servers:
        raise ConfigError(f"--cluster {urls!r} names no server")
    if key_file is None:
        raise ConfigError(
            "--cluster needs --cluster-key-file FILE, the same 32-byte key on every host"
            " (head -c 32 /dev/urandom > FILE)"
        )
    key_file = key_file.expanduser().resolve()
    # Declared as the gateway will declare them: the first declaration is the one kept.
    replicas = kv_replicas(os.environ)
    shared, created = asyncio.run(_check(servers, load_key(key_file), replicas, admin))
    env = {"PYFAAS_CLUSTER": ",".join(servers), "PYFAAS_CLUSTER_KEY_FILE": str(key_file)}
    return env, shared, created


def queue_url(cluster_env: Mapping[str, str], probe: float = PROBE_TIMEOUT) -> str:
    """Every cluster server, the first that accepts a connection now put first."""
    servers = cluster_env["PYFAAS_CLUSTER"].split(",")
    for server in servers:
        if _answers(server, probe):
            return ",".join([server, *(other for other in servers if other != server)])
    return ",".join(servers)


def _answers(server: str, timeout: float) -> bool:
    parts = urlsplit(server)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 4222), timeout):
            return True
    except (OSError, ValueError):
        return False


async def _check(servers: list[str], key: bytes, replicas: int, admin: Admin) -> tuple[Admin, bool]:
    nc = Client()
    try:
        await asyncio.wait_for(
            nc.connect(
                servers=servers, connect_timeout=2, max_reconnect_attempts=1, error_cb=_quiet
            ),
            CHECK_TIMEOUT,
        )
        js = nc.jetstream(timeout=CHECK_TIMEOUT)
        return await _join(nc, js, key, replicas, admin)
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc)
        raise ConfigError(f"cannot reach the cluster at {','.join(servers)}: {reason}") from None
    except PyfaasError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"cluster {','.join(servers)}: {exc}") from None
    finally:
        with contextlib.suppress(nats.errors.Error):
            await nc.close()


async def _join(
    nc: Client, js: JetStreamContext, key: bytes, replicas: int, admin: Admin
) -> tuple[Admin, bool]:
    """The buckets opened and the shared credentials read, while JetStream settles.

    A NATS cluster answers with timeouts, or with no responders, while its
    streams elect leaders (another host raising their replicas, a node just
    started): tried again for up to ``JOIN_WAIT``, not a refusal to start.
    """
    deadline = asyncio.get_running_loop().time() + JOIN_WAIT
    while True:
        try:
            store = await ClusterStore.open(js, SecretBox(key), replicas)
            if replicas > 1:
                # Made with every replica from the start (``queue_streams``); the ones
                # made before, on one node, raised.
                await declare_queue(nc, replicas, CHECK_TIMEOUT)
                await replicate(js, replicas)
            data, created = await store.shared(names.ADMIN_KEY, admin.encode())
            return Admin.decode(data), created
        except (
            nats.errors.TimeoutError,
            nats.errors.NoRespondersError,
            ServiceUnavailableError,
            ServiceUnavailable,  # the store's word for a time-out of its own
        ):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(JOIN_RETRY)


async def _quiet(exc: Exception) -> None:
    """nats-py would print each failed connection's traceback; the one line above says it."""
