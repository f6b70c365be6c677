"""``pyfaas queue stats``: per function, how many calls wait, run, retry or lie dead.

A pyfaas extension over ``GET /system/queue``. The oldest age is how long
the oldest call still waiting for a worker has waited.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from . import _common as common
from .calls import table

if TYPE_CHECKING:
    from pyfaas.client import QueueSummary

HEADER = (
    "FUNCTION",
    "QUEUED",
    "DELAYED",
    "RUNNING",
    "OLDEST AGE",
    "RETRIES",
    "DEAD",
    "PROCESSED",
    "CALLBACK FAILURES",
)


def age(seconds: float) -> str:
    """``-`` for nothing waiting, else in the largest units: ``45s``, ``3m20s``, ``2h05m``."""
    if seconds <= 0:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def stats_table(summary: QueueSummary) -> str:
    rows: list[tuple[str, ...]] = [HEADER]
    for f in summary.functions:
        counts = (f.queued, f.delayed, f.running)
        done = (f.retrying, f.dead, f.processed, f.callback_failures)
        rows.append((f.function, *map(str, counts), age(f.oldest_age), *map(str, done)))
    totals = (summary.queued, summary.delayed, summary.running)
    oldest = max((f.oldest_age for f in summary.functions), default=0.0)
    processed = sum(f.processed for f in summary.functions)
    failures = sum(f.callback_failures for f in summary.functions)
    done = (summary.retrying, summary.dead, processed, failures)
    rows.append(("TOTAL", *map(str, totals), age(oldest), *map(str, done)))
    return table(rows)


def stats_wire(summary: QueueSummary) -> dict[str, Any]:
    return {
        **summary.extra,
        "queued": summary.queued,
        "running": summary.running,
        "dead": summary.dead,
        "delayed": summary.delayed,
        "retrying": summary.retrying,
        "functions": [
            {
                "function": f.function,
                "queued": f.queued,
                "delayed": f.delayed,
                "running": f.running,
                "retrying": f.retrying,
                "dead": f.dead,
                "oldestAge": f.oldest_age,
                "processed": f.processed,
                "callbackFailures": f.callback_failures,
            }
            for f in summary.functions
        ],
    }


@click.group("queue", cls=common.PyfaasGroup)
def queue() -> None:
    """The queue of asynchronous calls."""


@queue.command("stats", epilog=common.CREDENTIALS_HELP)
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def stats(as_json: bool, gateway: str | None) -> None:
    """Per function: queued, delayed, running, oldest age, retries, dead."""
    with common.open_client(gateway) as client:
        summary = client.queue_stats()
    if as_json:
        click.echo(json.dumps(stats_wire(summary), indent=2))
    else:
        click.echo(stats_table(summary), nl=False)
