"""The cluster settings of a host, read once from the environment.

``PYFAAS_CLUSTER`` (comma-separated NATS URLs) turns cluster mode on;
``pyfaas serve --cluster URLS --cluster-key-file FILE`` sets it and
``PYFAAS_CLUSTER_KEY_FILE`` for the gateway it starts.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyfaas._env import Env
from pyfaas.errors import ConfigError


@dataclass(frozen=True)
class ClusterSettings:
    servers: list[str]
    key_file: Path
    host: str
    address: str
    resync: float
    heartbeat: float
    kv_replicas: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ClusterSettings | None:
        """The settings, or None when the host is not in a cluster."""
        env = Env(environ)
        servers = parse_servers(env.get("PYFAAS_CLUSTER", ""))
        if not servers:
            return None
        key_file = env.optional("PYFAAS_CLUSTER_KEY_FILE")
        if not key_file:
            raise ConfigError(
                "PYFAAS_CLUSTER is set but PYFAAS_CLUSTER_KEY_FILE is not: a cluster needs"
                " its key (head -c 32 /dev/urandom > FILE, the same file on every host)"
            )
        port = env.get("PYFAAS_PORT", "8080")
        return cls(
            servers=servers,
            key_file=Path(key_file).expanduser(),
            host=env.get("PYFAAS_CLUSTER_NAME", f"{socket.gethostname()}-{port}"),
            address=env.get("PYFAAS_CLUSTER_ADDRESS", env.get("PYFAAS_GATEWAY", "")),
            resync=env.duration("PYFAAS_CLUSTER_RESYNC", 10.0),
            heartbeat=env.duration("PYFAAS_CLUSTER_HEARTBEAT", 2.0),
            kv_replicas=kv_replicas(environ),
        )


def parse_servers(text: str) -> list[str]:
    servers = [s.strip() for s in text.split(",") if s.strip()]
    for server in servers:
        if not server.startswith(("nats://", "tls://")):
            raise ConfigError(f"PYFAAS_CLUSTER: {server!r} is not a nats:// or tls:// URL")
    return servers


def kv_replicas(environ: Mapping[str, str]) -> int:
    """How many NATS nodes keep each bucket; the same on every host (its first start declares)."""
    return Env(environ).integer("PYFAAS_CLUSTER_KV_REPLICAS", 1, minimum=1)
