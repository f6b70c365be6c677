"""``pyfaas bin show``: what a request bin (the ``request-bin`` store function) recorded.

The local stand-in for requestbin.com in the async lab: point an
``X-Callback-Url`` at ``http://127.0.0.1:8080/function/request-bin``, then
``pyfaas bin show request-bin`` prints each request it received, oldest
first: time, method, path and query, its headers, a blank line and its body.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import click

from . import _common as common


def format_record(record: dict[str, Any]) -> str:
    """One record as a block: ``#id time METHOD path?query``, headers, blank line, body."""
    query = str(record.get("query") or "")
    target = f"{record.get('path') or '/'}{'?' + query if query else ''}"
    lines = [
        f"#{record.get('id', '?')} {record.get('time', '')} {record.get('method', '')} {target}"
    ]
    headers = record.get("headers") or {}
    pairs = headers.items() if isinstance(headers, dict) else headers
    lines += [f"{key}: {value}" for key, value in pairs]
    body = str(record.get("body") or "")
    if record.get("bodyEncoding") == "base64":
        raw = base64.b64decode(body)
        body = raw.decode("utf-8", "replace")
    if record.get("bodyTruncated"):
        lines.append(f"(body cut to 1 MiB of {record['bodyTruncated']} bytes)")
    return "\n".join(lines) + "\n\n" + body.rstrip("\n") + "\n"


@click.group("bin", cls=common.PyfaasGroup)
def bin_group() -> None:
    """Request bins: the requests a `request-bin` function received."""


@bin_group.command("show", epilog="Deploy a bin with `pyfaas store deploy request-bin`.")
@click.argument("name", default="request-bin")
@click.option("--tail", type=click.IntRange(min=0), default=None, help="Only the last N requests")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the records as JSON")
@common.namespace_option
@common.gateway_option
def show(
    name: str, tail: int | None, as_json: bool, namespace: str | None, gateway: str | None
) -> None:
    """Print the requests the bin NAME (default: request-bin) recorded, oldest first."""
    with common.open_client(gateway) as client:
        records = client.bin_requests(name, namespace, tail=tail)
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    if not records:
        click.echo(f"{name} has recorded no requests yet.", err=True)
        return
    click.echo("\n".join(format_record(r) for r in records), nl=False)
