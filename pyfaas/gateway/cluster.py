"""``python -m pyfaas.gateway.cluster``: the gateway process of one host of a cluster.

As ``pyfaas.gateway.server``, with the local provider wrapped in the
``ClusterProvider``: definitions and secrets in JetStream KV, this host's
replicas brought to them, and the cluster's images (``cluster.images``):
uploaded ones published to the object store, pushed ones fetched on need.
``pyfaas serve --cluster`` starts this module instead of ``pyfaas.gateway``.
A cluster key that does not match the cluster's stops it with one line before
it listens.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from pyfaas import credentials as creds
from pyfaas import image_archive
from pyfaas.cluster.images import ClusterImages
from pyfaas.cluster.provider import ClusterProvider
from pyfaas.cluster.secretbox import load_key
from pyfaas.cluster.settings import ClusterSettings
from pyfaas.errors import ConfigError
from pyfaas.gateway.server import _ensure_image, run_gateway, run_process
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.httpd.limits import raise_fd_limit
from pyfaas.images import ImageStore
from pyfaas.paths import StatePaths
from pyfaas.providers.local import LocalProvider, LocalProviderSettings

log = logging.getLogger("pyfaas.gateway")


async def serve(environ: Mapping[str, str]) -> None:
    cluster = ClusterSettings.from_env(environ)
    if cluster is None:
        raise ConfigError("PYFAAS_CLUSTER is not set: run python -m pyfaas.gateway instead")
    key = load_key(cluster.key_file)
    settings = GatewaySettings.from_env(environ)
    raise_fd_limit()
    paths = StatePaths(settings.home).ensure()
    local_settings = LocalProviderSettings.from_env(environ)
    # A venv unpacked here gets this host's interpreter and platform packages.
    images = ClusterImages(
        cluster.servers, ImageStore(paths.images), image_archive.adopt_here, cluster.kv_replicas
    )
    await images.start()
    try:
        await _serve_cluster(settings, cluster, key, paths, local_settings, images)
    finally:
        await images.close()


async def _serve_cluster(
    settings: GatewaySettings,
    cluster: ClusterSettings,
    key: bytes,
    paths: StatePaths,
    local_settings: LocalProviderSettings,
    images: ClusterImages,
) -> None:
    credentials = creds.ensure(paths)[0] if settings.basic_auth else None
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
        images=images,
    )
    await provider.start()
    log.info("Cluster host %s on %s", cluster.host, ",".join(cluster.servers))
    await run_gateway(settings, provider, credentials)


def main(environ: Mapping[str, str]) -> None:
    run_process(serve, environ)


if __name__ == "__main__":
    try:
        main(os.environ)
    except ConfigError as exc:
        print(f"pyfaas gateway: {exc}", file=sys.stderr)
        sys.exit(2)
