"""``pyfaas logs``: a function's log lines, followed by default, as faas-cli does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import click

from pyfaas._env import parse_duration
from pyfaas.errors import BadRequest, ConfigError
from pyfaas.types import LogMessage, format_time

from . import _common as common


def format_message(msg: LogMessage, output: str, time_format: str | None = None) -> str:
    stamp = msg.timestamp.strftime(time_format) if time_format else format_time(msg.timestamp)
    if output == "json":
        return json.dumps(msg.to_wire())
    if output == "keyvalue":
        return (
            f"timestamp={stamp} name={msg.name} namespace={msg.namespace} "
            f"instance={msg.instance} text={msg.text}"
        )
    return f"{stamp} {msg.name} ({msg.instance}) {msg.text}"


def since_from(since: str | None, since_time: str | None) -> datetime | None:
    if since and since_time:
        raise BadRequest("--since and --since-time cannot be used together")
    if since:
        try:
            return datetime.now(UTC) - timedelta(seconds=parse_duration("--since", since))
        except ConfigError as exc:
            raise BadRequest(exc.message) from exc
    if since_time:
        try:
            moment = datetime.fromisoformat(since_time.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadRequest(f"--since-time: {since_time!r} is not an RFC 3339 time") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


@click.command(epilog=common.CREDENTIALS_HELP)
@click.argument("name")
@click.option("--since", default=None, help="Only lines newer than this duration, e.g. 5m")
@click.option("--since-time", default=None, help="Only lines after this RFC 3339 time")
@click.option("--lines", default=-1, type=int, help="Only the last N lines (-1: all)")
@click.option(
    "-t",
    "--tail",
    type=click.BOOL,
    is_flag=False,
    flag_value=True,
    default=True,
    help="Keep following new lines (default: true; --tail=false stops at the end)",
)
@click.option("-T", "--no-tail", is_flag=True, help="Same as --tail=false")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["plain", "keyvalue", "json"]),
    default="plain",
    help="Output format",
)
@click.option("--json", "as_json", is_flag=True, help="Same as -o json")
@click.option("--time-format", default=None, help="strftime format of the timestamp")
@click.option("--instance", default=None, help="Only lines of this replica")
@common.namespace_option
@common.gateway_option
def logs(
    name: str,
    since: str | None,
    since_time: str | None,
    lines: int,
    tail: bool,
    no_tail: bool,
    output: str,
    as_json: bool,
    time_format: str | None,
    instance: str | None,
    namespace: str | None,
    gateway: str | None,
) -> None:
    """Print the logs of function NAME."""
    start = since_from(since, since_time)
    fmt = "json" if as_json else output
    with common.open_client(gateway) as client:
        for msg in client.logs(
            name, namespace, follow=tail and not no_tail, tail=lines, since=start, instance=instance
        ):
            click.echo(format_message(msg, fmt, time_format))
