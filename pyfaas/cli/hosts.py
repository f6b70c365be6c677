"""``pyfaas hosts``: the hosts of a cluster, and ``pyfaas cluster keygen``: its key.

``hosts`` reads ``GET /system/hosts`` (a pyfaas extension): each host whose
heartbeat is current, with its address, version, last heartbeat and the
available replicas it runs of each function. Against a platform on one
machine it lists that machine alone. ``cluster keygen FILE`` writes a new
32-byte cluster key (mode 0600) for ``pyfaas serve --cluster-key-file``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from . import _common as common
from .calls import table

HEADER = ("NAME", "ADDRESS", "VERSION", "LAST HEARTBEAT", "REPLICAS")
KEY_BYTES = 32


def hosts_table(hosts: list[dict[str, Any]]) -> str:
    rows: list[tuple[str, ...]] = [HEADER]
    for host in hosts:
        replicas = host.get("replicas") or {}
        shown = ", ".join(f"{fn}={n}" for fn, n in sorted(replicas.items())) or "-"
        rows.append(
            (
                str(host.get("name", "")),
                str(host.get("address", "")),
                str(host.get("version", "")),
                str(host.get("lastHeartbeat", "")),
                shown,
            )
        )
    return table(rows)


@click.command("hosts", epilog=common.CREDENTIALS_HELP)
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def hosts(as_json: bool, gateway: str | None) -> None:
    """The platform's hosts: name, address, version, last heartbeat, replicas."""
    with common.open_client(gateway) as client:
        found = client.hosts()
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        click.echo(hosts_table(found), nl=False)


@click.group("cluster", cls=common.PyfaasGroup)
def cluster() -> None:
    """Running one platform on several machines (docs/cluster.md)."""


@cluster.command("keygen")
@click.argument("file", type=click.Path(path_type=Path))
def keygen(file: Path) -> None:
    """Write a new cluster key to FILE (0600); copy the same file to every host."""
    if file.exists():
        raise click.ClickException(f"{file} exists: a cluster keeps its key; remove it first")
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(os.urandom(KEY_BYTES))
    click.echo(f"wrote a {KEY_BYTES}-byte cluster key to {file}")
