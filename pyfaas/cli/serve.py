"""``pyfaas serve``: run the whole platform (gateway and queue-worker) in the foreground."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click


@dataclass
class ServeOptions:
    port: int
    bind: str
    queue: str | None
    home: Path | None
    cluster: str | None = None
    cluster_key_file: Path | None = None


@click.command()
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Gateway port (default: PYFAAS_PORT or 8080; 0: any free port, said at start)",
)
@click.option("--bind", default=None, help="Address to listen on (default: 127.0.0.1)")
@click.option("--queue", default=None, help="Queue URL: sqlite:///path, nats://host:port")
@click.option(
    "--home",
    default=None,
    type=click.Path(path_type=Path),
    help="State directory (default: PYFAAS_HOME or ~/.pyfaas)",
)
@click.option(
    "--cluster",
    default=None,
    help="Join a cluster: NATS URLs, comma-separated (default: PYFAAS_CLUSTER); docs/cluster.md",
)
@click.option(
    "--cluster-key-file",
    default=None,
    type=click.Path(path_type=Path),
    help="The cluster's 32-byte key, the same file on every host (PYFAAS_CLUSTER_KEY_FILE)",
)
def serve(
    port: int | None,
    bind: str | None,
    queue: str | None,
    home: Path | None,
    cluster: str | None,
    cluster_key_file: Path | None,
) -> None:
    """Run the gateway and the queue-worker until interrupted."""
    from pyfaas.serve import run  # the supervisor pulls in aiohttp; load it on use

    options = ServeOptions(
        port=port if port is not None else int(os.environ.get("PYFAAS_PORT") or 8080),
        bind=bind or os.environ.get("PYFAAS_BIND") or "127.0.0.1",
        queue=queue,
        home=home,
        cluster=cluster,
        cluster_key_file=cluster_key_file
        or (
            Path(os.environ["PYFAAS_CLUSTER_KEY_FILE"])
            if os.environ.get("PYFAAS_CLUSTER_KEY_FILE")
            else None
        ),
    )
    sys.exit(run(options))
