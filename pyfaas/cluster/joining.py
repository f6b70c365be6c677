"""What ``pyfaas serve --cluster`` does before it starts anything: check, then configure.

``prepare`` parses the server URLs, loads the key and opens the cluster's
buckets once with it, so a wrong key stops ``serve`` with one line before a
process starts; it returns the environment the gateway reads
(``pyfaas.cluster.settings``). The queue of a cluster host defaults to the
NATS JetStream queue on the cluster's first server, so an asynchronous call
accepted by any host runs on any host's queue-worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import nats.errors
from nats.aio.client import Client

from pyfaas.cluster.secretbox import SecretBox, load_key
from pyfaas.cluster.settings import kv_replicas, parse_servers
from pyfaas.cluster.store import ClusterStore
from pyfaas.errors import ConfigError, PyfaasError

CHECK_TIMEOUT = 10.0


def prepare(urls: str, key_file: Path | None) -> dict[str, str]:
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
    asyncio.run(_check(servers, load_key(key_file), replicas))
    return {"PYFAAS_CLUSTER": ",".join(servers), "PYFAAS_CLUSTER_KEY_FILE": str(key_file)}


def queue_url(cluster_env: dict[str, str]) -> str:
    return cluster_env["PYFAAS_CLUSTER"].split(",")[0]


async def _check(servers: list[str], key: bytes, replicas: int) -> None:
    nc = Client()
    try:
        await asyncio.wait_for(
            nc.connect(
                servers=servers, connect_timeout=2, max_reconnect_attempts=1, error_cb=_quiet
            ),
            CHECK_TIMEOUT,
        )
        await ClusterStore.open(nc.jetstream(timeout=CHECK_TIMEOUT), SecretBox(key), replicas)
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


async def _quiet(exc: Exception) -> None:
    """nats-py would print each failed connection's traceback; the one line above says it."""
