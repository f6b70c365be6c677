"""``pyfaas calls`` and ``dead-letters``: what became of asynchronous calls.

These are pyfaas extensions (OpenFaaS CE cannot answer "where is my call?"):
``GET /system/calls/{id}``, ``GET /system/dead-letters`` and ``POST
/system/dead-letters/{id}/replay``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from pyfaas.types import CallStatus

from . import _common as common


def _when(stamp: float | None) -> str:
    if not stamp:
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_call(record: CallStatus) -> str:
    rows = [
        ("Call ID", record.call_id),
        ("Function", f"{record.function}.{record.namespace}"),
        ("State", record.state.value),
        ("Attempts", str(record.attempts)),
        ("Submitted", _when(record.submitted_at)),
        ("Started", _when(record.started_at)),
        ("Finished", _when(record.finished_at)),
        ("Status code", "-" if record.status_code is None else str(record.status_code)),
    ]
    if record.error:
        rows.append(("Error", record.error))
    if record.callback_url:
        status = "-" if record.callback_status is None else str(record.callback_status)
        rows.append(("Callback", f"{record.callback_url} -> {status}"))
        rows.append(("Callback attempts", str(record.callback_attempts)))
    width = max(len(title) for title, _ in rows) + 2
    return "".join(f"{(title + ':').ljust(width)}{value}\n" for title, value in rows)


@click.group("calls", cls=common.PyfaasGroup)
def calls() -> None:
    """Asynchronous calls."""


@calls.command("get", epilog=common.CREDENTIALS_HELP)
@click.argument("call_id")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def get_call(call_id: str, as_json: bool, gateway: str | None) -> None:
    """Show what happened to call CALL_ID."""
    with common.open_client(gateway) as client:
        record = client.call(call_id)
    if as_json:
        click.echo(json.dumps(record.to_wire(), indent=2))
    else:
        click.echo(describe_call(record), nl=False)


@click.group("dead-letters", cls=common.PyfaasGroup, aliases={"ls": "list"})
def dead_letters() -> None:
    """Calls that failed for good, and replaying them."""


@dead_letters.command("list", epilog=common.CREDENTIALS_HELP)
@click.option("--limit", default=100, type=int, help="At most this many, newest first")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def list_dead(limit: int, as_json: bool, gateway: str | None) -> None:
    """List dead letters, newest first."""
    with common.open_client(gateway) as client:
        records = client.dead_letters(limit)
    if as_json:
        click.echo(json.dumps([r.to_wire() for r in records], indent=2))
        return
    if not records:
        click.echo("No dead letters.")
        return
    for r in records:
        code = "-" if r.status_code is None else r.status_code
        reason = f"  {r.error}" if r.error else ""
        click.echo(f"{r.call_id}  {r.function}.{r.namespace}  {code}  x{r.attempts}{reason}")


@dead_letters.command("replay", epilog=common.CREDENTIALS_HELP)
@click.argument("call_id")
@common.gateway_option
def replay(call_id: str, gateway: str | None) -> None:
    """Queue dead letter CALL_ID again."""
    with common.open_client(gateway) as client:
        client.replay(call_id)
    click.echo(f"Replayed: {call_id}")
