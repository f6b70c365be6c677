"""``python -m pyfaas.gateway.cluster``: the gateway process of one host of a cluster.

As ``pyfaas.gateway.server``, with the local provider wrapped in the
``ClusterProvider``: definitions and secrets in JetStream KV, this host's
replicas brought to them. ``pyfaas serve --cluster`` starts this module instead
of ``pyfaas.gateway``. A cluster key that does not match the cluster's stops it
with one line before it listens.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping

from pyfaas import credentials as creds
from pyfaas.cluster.provider import ClusterProvider
from pyfaas.cluster.secretbox import load_key
from pyfaas.cluster.settings import ClusterSettings
from pyfaas.errors import ConfigError
from pyfaas.gateway.listener import GatewayServer
from pyfaas.gateway.server import SHUTDOWN_GRACE, _ensure_image, _wait_for_signal
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.httpd.limits import raise_fd_limit
from pyfaas.logformat import setup_logging
from pyfaas.paths import StatePaths
from pyfaas.providers.local import LocalProvider, LocalProviderSettings
from pyfaas.queue import open_queue

log = logging.getLogger("pyfaas.gateway")


async def serve(environ: Mapping[str, str]) -> None:
    cluster = ClusterSettings.from_env(environ)
    if cluster is None:
        raise ConfigError("PYFAAS_CLUSTER is not set: run python -m pyfaas.gateway instead")
    key = load_key(cluster.key_file)
    settings = GatewaySettings.from_env(environ)
    raise_fd_limit()
    paths = StatePaths(settings.home).ensure()
    credentials = creds.ensure(paths)[0] if settings.basic_auth else None
    local_settings = LocalProviderSettings.from_env(environ)
    provider = ClusterProvider(
        LocalProvider(paths, local_settings, _ensure_image),
        cluster.servers,
        key,
        host=cluster.host,
        address=cluster.address,
        max_replicas=local_settings.max_replicas,
        resync=cluster.resync,
        heartbeat=cluster.heartbeat,
        kv_replicas=cluster.kv_replicas,
    )
    await provider.start()
    log.info("Cluster host %s on %s", cluster.host, ",".join(cluster.servers))
    queue = open_queue(settings.queue_url)
    try:
        await queue.start()
        gateway = GatewayServer(settings, provider, queue, credentials, grace=SHUTDOWN_GRACE)
        try:
            port = await gateway.start(settings.bind, settings.port)
            log.info("Listening on http://%s:%d", settings.bind, port)
            await _wait_for_signal()
            log.info("Shutting down")
        finally:
            await gateway.close()
    finally:
        await queue.close()
        await provider.close()


def main(environ: Mapping[str, str]) -> None:
    setup_logging("gateway", environ)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a Linux dependency
        asyncio.run(serve(environ))
    else:
        uvloop.run(serve(environ))


if __name__ == "__main__":
    try:
        main(os.environ)
    except ConfigError as exc:
        print(f"pyfaas gateway: {exc}", file=sys.stderr)
        sys.exit(2)
