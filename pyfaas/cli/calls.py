"""``pyfaas calls``: listing asynchronous calls, what became of one, its result, cancelling it.

These are pyfaas extensions (OpenFaaS CE cannot answer "where is my call?"):
``GET /system/calls`` (newest first, filtered), ``GET /system/calls/{id}``,
``GET /system/calls/{id}/result`` and ``DELETE /system/calls/{id}``. The dead
letters have their own group, in ``dead_letters``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from pyfaas.types import CallAttempt, CallState, CallStatus

from . import _common as common

if TYPE_CHECKING:
    from pyfaas.client import CallResult


def when(stamp: float | None) -> str:
    if not stamp:
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_call(record: CallStatus) -> str:
    """The call in titled rows; the rows of its attempts follow when it has a history."""
    rows = [
        ("Call ID", record.call_id),
        ("Function", f"{record.function}.{record.namespace}"),
        ("State", record.state.value),
        ("Attempts", str(record.attempts)),
        ("Submitted", when(record.submitted_at)),
        ("Started", when(record.started_at)),
        ("Finished", when(record.finished_at)),
        ("Status code", "-" if record.status_code is None else str(record.status_code)),
    ]
    # Only what was set: a plain call shows the rows it always did.
    if record.not_before:
        rows.append(("Not before", when(record.not_before)))
    if record.expire_at:
        rows.append(("Expires", when(record.expire_at)))
    if record.has_result:
        rows.append(("Result", f"stored: pyfaas calls result {record.call_id}"))
    if record.reason:
        rows.append(("Reason", record.reason))
    if record.error:
        rows.append(("Error", record.error))
    if record.callback_url:
        status = "-" if record.callback_status is None else str(record.callback_status)
        rows.append(("Callback", f"{record.callback_url} -> {status}"))
        rows.append(("Callback attempts", str(record.callback_attempts)))
    width = max(len(title) for title, _ in rows) + 2
    text = "".join(f"{(title + ':').ljust(width)}{value}\n" for title, value in rows)
    if record.history:
        text += "\nHistory:\n" + history_table(record.history)
    return text


def history_table(history: Iterable[CallAttempt]) -> str:
    rows: list[tuple[str, ...]] = [("ATTEMPT", "STARTED", "FINISHED", "STATUS", "ERROR")]
    for a in history:
        code = "-" if a.status_code is None else str(a.status_code)
        rows.append((str(a.attempt), when(a.started_at), when(a.finished_at), code, a.error or ""))
    return table(rows, indent="  ")


def table(rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """Left-aligned columns two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    return "".join(f"{indent}{line.rstrip()}\n" for line in lines)


def result_head(result: CallResult) -> str:
    """The status line and headers of a stored result, as an HTTP answer's head."""
    lines = [f"HTTP {result.status}"]
    lines += [f"{name}: {value}" for name, value in result.headers]
    if result.truncated is not None:
        lines.append(f"X-Result-Truncated: {result.truncated} (the body is cut)")
    return "\n".join(lines) + "\n"


@click.group("calls", cls=common.PyfaasGroup)
def calls() -> None:
    """Asynchronous calls: their state, their results, cancelling them."""


def calls_table(records: Iterable[CallStatus]) -> str:
    """One row per call under a header row, newest first as the gateway lists them."""
    rows: list[tuple[str, ...]] = [
        ("CALL ID", "FUNCTION", "STATE", "ATTEMPTS", "SUBMITTED", "STATUS")
    ]
    for r in records:
        code = "-" if r.status_code is None else str(r.status_code)
        ref = f"{r.function}.{r.namespace}"
        rows.append((r.call_id, ref, r.state.value, str(r.attempts), when(r.submitted_at), code))
    return table(rows)


_STATES = [state.value for state in CallState]


@calls.command("list", epilog=common.CREDENTIALS_HELP)
@click.option("-f", "--function", help="Only this function's calls (NAME or NAME.NAMESPACE)")
@click.option("-s", "--state", type=click.Choice(_STATES), help="Only the calls in this state")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(1, 500),
    default=50,
    show_default=True,
    help="How many calls at most",
)
@click.option("--before", help="Go on from a listing's last page (the cursor it printed)")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def list_calls(
    function: str | None,
    state: str | None,
    limit: int,
    before: str | None,
    as_json: bool,
    gateway: str | None,
) -> None:
    """List asynchronous calls, newest first.

    When there are more, stderr says the --before value that shows the next page.
    """
    with common.open_client(gateway) as client:
        page = client.calls(function, state=state, limit=limit, before=before)
    if as_json:
        click.echo(json.dumps([record.to_wire() for record in page.calls], indent=2))
    elif page.calls:
        click.echo(calls_table(page.calls), nl=False)
    else:
        click.echo("No calls.", err=True)
    if page.next is not None:
        click.echo(f"More calls: the same command with --before {page.next}", err=True)


@calls.command("get", epilog=common.CREDENTIALS_HELP)
@click.argument("call_id")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def get_call(call_id: str, as_json: bool, gateway: str | None) -> None:
    """Show what happened to call CALL_ID: state, attempts, timings, callback."""
    with common.open_client(gateway) as client:
        record = client.call(call_id)
    if as_json:
        click.echo(json.dumps(record.to_wire(), indent=2))
    else:
        click.echo(describe_call(record), nl=False)


@calls.command("result", epilog=common.CREDENTIALS_HELP)
@click.argument("call_id")
@click.option(
    "-v", "--verbose", is_flag=True, help="Print the status and headers on stdout before the body"
)
@common.gateway_option
def call_result(call_id: str, verbose: bool, gateway: str | None) -> None:
    """Print the function's answer to call CALL_ID.

    The body goes to stdout byte for byte; the status and headers to stderr
    (to stdout before the body with -v, as curl -i does).
    """
    with common.open_client(gateway) as client:
        result = client.call_result(call_id)
    head = result_head(result)
    out = common.stdout_bytes()
    if verbose:
        out.write(head.encode() + b"\n")
    else:
        click.echo(head, nl=False, err=True)
    out.write(result.body)
    out.flush()


@calls.command("cancel", epilog=common.CREDENTIALS_HELP)
@click.argument("call_id")
@common.gateway_option
def cancel(call_id: str, gateway: str | None) -> None:
    """Cancel call CALL_ID while it is queued or delayed: it will never run.

    A running call is not stopped: the function may already have acted.
    """
    with common.open_client(gateway) as client:
        record = client.cancel(call_id)
    click.echo(f"Cancelled: {record.call_id} ({record.state.value})")
