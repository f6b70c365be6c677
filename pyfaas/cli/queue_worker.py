"""``pyfaas queue-worker``: run a queue-worker on its own, e.g. a second one against NATS."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from typing import Any

import click

from pyfaas.client.config import normalise_gateway
from pyfaas.logformat import line_writer, log_format


@click.command("queue-worker")
@click.option("--queue", default=None, help="Queue URL (default: PYFAAS_QUEUE)")
@click.option("--gateway", default=None, help="Gateway URL (default: PYFAAS_GATEWAY)")
@click.option("--max-inflight", default=None, type=int, help="Calls run at once")
def queue_worker(queue: str | None, gateway: str | None, max_inflight: int | None) -> None:
    """Claim queued calls and invoke them through the gateway."""
    from pyfaas.worker.app import run_worker
    from pyfaas.worker.settings import WorkerSettings

    settings = WorkerSettings.from_env(os.environ)
    changes: dict[str, Any] = {}
    if queue:
        changes["queue_url"] = queue
    if gateway:
        changes["gateway_url"] = normalise_gateway(gateway)
    if max_inflight is not None:
        if max_inflight < 1:
            raise click.BadParameter("must be at least 1", param_hint="--max-inflight")
        changes["max_inflight"] = max_inflight
    settings = dataclasses.replace(settings, **changes)
    settings.check()
    # PYFAAS_LOG_FORMAT: the event lines as they are, or each as a JSON line.
    stream = line_writer(sys.stdout, "queue-worker", log_format(os.environ))
    sys.exit(asyncio.run(run_worker(settings, stream=stream)))
