"""``pyfaas logs``: a function's log lines, or the gateway's or the queue-worker's,
followed by default, as faas-cli does: ``--since``, ``--since-time``, ``--lines``,
``--tail[=false]`` (``--tail=N`` for the last N lines), ``--follow/--no-follow``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from pyfaas._env import parse_bool, parse_duration
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


if TYPE_CHECKING:
    _ParamType = click.ParamType[bool | int]
else:  # generic from click 8.4 on; the package allows 8.1
    _ParamType = click.ParamType


class TailValue(_ParamType):
    """faas-cli's ``--tail`` is a bool (follow or not, Go's spellings, ``0`` and ``1``
    among them); another number, as kubectl's, is a count of lines: ``--tail=false``,
    ``--tail``, ``--tail=20``."""

    name = "BOOL|N"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> bool | int:
        if isinstance(value, bool | int):
            return value
        text = str(value).strip()
        if text.isdigit() and text not in ("0", "1"):  # 0 and 1 are Go's false and true
            return int(text)
        try:
            return parse_bool("--tail", text)
        except ConfigError:
            self.fail(f"{value!r} is neither true/false nor a number of lines", param, ctx)


LOGS_EPILOG = (
    "NAME is a function, or the platform's own `gateway` or `queue-worker` (namespace"
    " openfaas). Without --tail=false or --no-follow the lines are followed until Ctrl-C,"
    " as faas-cli does. " + common.CREDENTIALS_HELP
)


@click.command(epilog=LOGS_EPILOG)
@click.argument("name")
@click.option("--since", default=None, help="Only lines newer than this duration, e.g. 5m")
@click.option("--since-time", default=None, help="Only lines after this RFC 3339 time")
@click.option("--lines", default=-1, type=int, help="Only the last N lines (-1: all)")
@click.option(
    "-t",
    "--tail",
    type=TailValue(),
    is_flag=False,
    flag_value=True,
    default=True,
    help="Keep following new lines (default: true; --tail=false stops at the end);"
    " a number N shows only the last N lines, as --lines N",
)
@click.option("-T", "--no-tail", is_flag=True, help="Same as --tail=false")
@click.option(
    "--follow",
    type=click.BOOL,
    is_flag=False,
    flag_value=True,
    default=None,
    help="Follow new lines (--follow=false: stop at the end); overrides --tail's true/false",
)
@click.option("--no-follow", is_flag=True, help="Same as --follow=false")
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
    tail: bool | int,
    no_tail: bool,
    follow: bool | None,
    no_follow: bool,
    output: str,
    as_json: bool,
    time_format: str | None,
    instance: str | None,
    namespace: str | None,
    gateway: str | None,
) -> None:
    """Print the logs of function NAME, or of the `gateway` or the `queue-worker`."""
    start = since_from(since, since_time)
    fmt = "json" if as_json else output
    if not isinstance(tail, bool):  # --tail=N: a count of lines; following stays the default
        lines, tail = tail, True
    following = (tail and not no_tail) if follow is None else follow
    following = following and not no_follow
    with common.open_client(gateway) as client:
        for msg in client.logs(
            name, namespace, follow=following, tail=lines, since=start, instance=instance
        ):
            click.echo(format_message(msg, fmt, time_format))
