"""``pyfaas dead-letters``: calls that failed for good; showing, replaying, purging them.

pyfaas extensions: ``GET /system/dead-letters[/{id}]``, ``POST
/system/dead-letters/{id}/replay``, ``POST /system/dead-letters/replay`` and
``DELETE /system/dead-letters`` with a filter (``--function``, ``--reason``,
``--since``) or ``--all``. A purge asks first on a terminal, unless ``--yes``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from pyfaas._env import parse_duration
from pyfaas.errors import BadRequest

from . import _common as common
from .calls import describe_call, table, when

F = TypeVar("F", bound=Callable[..., Any])
_AGO = re.compile(r"(\d+d)?((\d+(\.\d+)?(ms|s|m|h))*)")
LIST_HEADER = ("CALL ID", "FUNCTION", "STATUS", "ATTEMPTS", "FINISHED", "REASON")
_PREVIEW = 2048  # bytes of a dead letter's body shown as text


def since_value(value: str | None) -> str | float | None:
    """``--since``: a duration ago (``90s``, ``10m``, ``1h30m``, ``2d``), Unix seconds,
    or an RFC 3339 time, which the gateway reads (and refuses in one line if bad)."""
    if value is None:
        return None
    text = value.strip()
    match = _AGO.fullmatch(text)
    if not text or re.fullmatch(r"\d+(\.\d+)?", text) or match is None:
        return text
    days = float(match.group(1)[:-1]) if match.group(1) else 0.0
    rest = parse_duration("--since", match.group(2)) if match.group(2) else 0.0
    return time.time() - days * 86400 - rest


def filter_options(func: F) -> F:
    func = click.option(
        "--since", default=None, help="Dead since: 10m, 2h, 1d ago, Unix seconds or RFC 3339"
    )(func)
    func = click.option("--reason", default=None, help="Only those dead for this reason")(func)
    return click.option("--function", default=None, help="Only this function's (NAME[.NS])")(func)


def _describe_filter(function: str | None, reason: str | None, since: str | None) -> str:
    parts = [f"of function {function}" if function else ""]
    parts += [f"dead for {reason!r}" if reason else "", f"dead since {since}" if since else ""]
    return "the dead letters " + " ".join(p for p in parts if p)


@click.group("dead-letters", cls=common.PyfaasGroup, aliases={"ls": "list"})
def dead_letters() -> None:
    """Calls that failed for good: list, show, replay, purge."""


@dead_letters.command("list", epilog=common.CREDENTIALS_HELP)
@click.option("--limit", default=100, type=int, help="At most this many, newest first")
@filter_options
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def list_dead(
    limit: int,
    function: str | None,
    reason: str | None,
    since: str | None,
    as_json: bool,
    gateway: str | None,
) -> None:
    """List dead letters, newest first."""
    with common.open_client(gateway) as client:
        records = client.dead_letters(
            limit, function=function, reason=reason, since=since_value(since)
        )
    if as_json:
        click.echo(json.dumps([r.to_wire() for r in records], indent=2))
        return
    if not records:
        click.echo("No dead letters.")
        return
    rows: list[tuple[str, ...]] = [
        ("CALL ID", "FUNCTION", "STATUS", "ATTEMPTS", "FINISHED", "REASON")
    ]
    for r in records:
        code = "-" if r.status_code is None else str(r.status_code)
        why = r.reason or r.error or ""
        rows.append(
            (
                r.call_id,
                f"{r.function}.{r.namespace}",
                code,
                str(r.attempts),
                when(r.finished_at),
                why,
            )
        )
    click.echo(table(rows), nl=False)


@dead_letters.command("show", epilog=common.CREDENTIALS_HELP)
@click.argument("call_id")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def show(call_id: str, as_json: bool, gateway: str | None) -> None:
    """Show dead letter CALL_ID and the request it was."""
    with common.open_client(gateway) as client:
        letter = client.dead_letter(call_id)
    request = letter.request
    if as_json:
        data: dict[str, Any] = {"call": letter.call.to_wire(), "request": None}
        if request is not None:
            data["request"] = {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": [list(pair) for pair in request.headers],
                "size": request.size,
                "body": request.body.decode("utf-8", "replace"),
            }
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(describe_call(letter.call), nl=False)
    if request is None:
        click.echo("\nRequest: no longer kept")
        return
    query = f"?{request.query}" if request.query else ""
    click.echo(f"\nRequest: {request.method} {request.path}{query} ({request.size} bytes)")
    for name, value in request.headers:
        click.echo(f"  {name}: {value}")
    if request.body:
        click.echo(_preview(request.body))


def _preview(body: bytes) -> str:
    try:
        text = body[:_PREVIEW].decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes of binary>"
    more = f"\n... ({len(body) - _PREVIEW} more bytes)" if len(body) > _PREVIEW else ""
    return text + more


@dead_letters.command("replay", epilog=common.CREDENTIALS_HELP)
@click.argument("call_id", required=False)
@filter_options
@click.option("--all", "everything", is_flag=True, help="Replay every dead letter")
@common.gateway_option
def replay(
    call_id: str | None,
    function: str | None,
    reason: str | None,
    since: str | None,
    everything: bool,
    gateway: str | None,
) -> None:
    """Queue dead letter CALL_ID again, or those that match a filter, or --all."""
    filtered = bool(function or reason or since)
    if call_id is not None:
        if filtered or everything:
            raise BadRequest("replay CALL_ID, or a filter, or --all: one of them")
        with common.open_client(gateway) as client:
            client.replay(call_id)
        click.echo(f"Replayed: {call_id}")
        return
    if not (filtered or everything):
        raise BadRequest("replay what? give CALL_ID, --function, --reason, --since or --all")
    with common.open_client(gateway) as client:
        count = client.replay_where(
            function=function, reason=reason, since=since_value(since), everything=everything
        )
    click.echo(f"Replayed {count} dead letter{'' if count == 1 else 's'}.")


@dead_letters.command("purge", epilog=common.CREDENTIALS_HELP)
@filter_options
@click.option("--all", "everything", is_flag=True, help="Purge every dead letter")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation")
@common.gateway_option
def purge(
    function: str | None,
    reason: str | None,
    since: str | None,
    everything: bool,
    yes: bool,
    gateway: str | None,
) -> None:
    """Delete, for good, the dead letters that match a filter, or --all."""
    if not (function or reason or since or everything):
        raise BadRequest("purge what? give --function, --reason, --since or --all")
    what = "every dead letter" if everything else _describe_filter(function, reason, since)
    if not yes and common.stdin_bytes().isatty():
        click.confirm(f"Delete {what} for good?", abort=True, err=True)
    with common.open_client(gateway) as client:
        count = client.purge(
            function=function, reason=reason, since=since_value(since), everything=everything
        )
    click.echo(f"Purged {count} dead letter{'' if count == 1 else 's'}.")
