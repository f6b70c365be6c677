"""``GET /system/hosts``: the hosts of the platform, from their heartbeats.

In a cluster, every host whose heartbeat is current (name, address, version,
last heartbeat, available replicas per function). On one machine, this host
alone, described from its provider.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

import pyfaas
from pyfaas.gateway.state import STATE

if TYPE_CHECKING:
    from pyfaas.cluster.heartbeat import HostRecord


def add_routes(app: web.Application) -> None:
    app.router.add_get("/system/hosts", _hosts)


async def _hosts(request: web.Request) -> web.Response:
    state = request.app[STATE]
    provider = state.provider
    # Only the cluster's provider knows other hosts; looked up by name, so a
    # single-host gateway never loads the cluster's modules (NATS, cryptography).
    cluster_hosts = getattr(provider, "hosts", None)
    if cluster_hosts is not None:
        records: list[HostRecord] = await cluster_hosts()
        return web.json_response([_wire(r) for r in records])
    replicas: dict[str, int] = {}
    for namespace in await provider.namespaces():
        for status in await provider.list_functions(namespace):
            replicas[f"{status.name}.{namespace}"] = status.available_replicas or 0
    this = {
        "name": socket.gethostname(),
        "address": f"http://{request.host}",
        "version": pyfaas.__version__,
        "lastHeartbeat": datetime.now(UTC).isoformat(),
        "replicas": replicas,
    }
    return web.json_response([this])


def _wire(record: HostRecord) -> dict[str, object]:
    return {
        "name": record.name,
        "address": record.address,
        "version": record.version,
        "lastHeartbeat": record.last_heartbeat,
        "replicas": record.replicas,
    }
