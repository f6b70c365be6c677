"""The watchdogs' own metrics, gathered from every replica when ``/metrics`` is scraped.

Each available replica answers ``GET /_/metrics`` (see
``pyfaas.watchdog.metrics``); its families (``http_requests_total``,
``http_request_duration_seconds``, ``http_requests_in_flight``) are written
again under the gateway's ``/metrics`` with ``function_name``
(``name.namespace``) and ``replica`` labels added, as Prometheus would label
them when scraping each pod. A replica that does not answer within
``TIMEOUT`` is left out of that scrape; only providers with
``ReplicaEndpoints`` have replicas to gather from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from pyfaas.providers.base import Endpoint, Provider, ReplicaEndpoints

TIMEOUT = 2.0  # seconds for one replica's answer
MAX_BYTES = 1024 * 1024
PATH = "/_/metrics"

log = logging.getLogger("pyfaas.gateway")


async def gather(provider: Provider) -> list[Metric]:
    """The replicas' families, merged by name, each sample labelled with its replica."""
    if not isinstance(provider, ReplicaEndpoints):
        return []
    targets: list[tuple[str, Endpoint]] = []
    for namespace in await provider.namespaces():
        for status in await provider.list_functions(namespace):
            function = f"{status.name}.{status.namespace}"
            for endpoint in provider.replica_endpoints(status.name, status.namespace):
                targets.append((function, endpoint))
    texts = await asyncio.gather(*(_fetch(endpoint) for _, endpoint in targets))
    merged: dict[str, Metric] = {}
    for (function, endpoint), text in zip(targets, texts, strict=True):
        if text is not None:
            _merge(merged, text, {"function_name": function, "replica": endpoint.replica})
    return list(merged.values())


def _merge(merged: dict[str, Metric], text: str, extra: dict[str, str]) -> None:
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        log.warning("replica %s: unreadable metrics: %s", extra["replica"], exc)
        return
    for family in families:
        metric = merged.get(family.name)
        if metric is None:
            metric = merged[family.name] = Metric(family.name, family.documentation, family.type)
        for sample in family.samples:
            metric.add_sample(sample.name, {**sample.labels, **extra}, sample.value)


async def _fetch(endpoint: Endpoint) -> str | None:
    """The replica's ``/_/metrics`` body; None if it does not answer 200 in time."""
    try:
        return await asyncio.wait_for(_get(endpoint), TIMEOUT)
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
        return None


async def _get(endpoint: Endpoint) -> str | None:
    if endpoint.unix_path is not None:
        reader, writer = await asyncio.open_unix_connection(endpoint.unix_path)
    else:
        reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    try:
        # HTTP/1.0: the replica closes the connection after its answer.
        writer.write(f"GET {PATH} HTTP/1.0\r\nHost: {endpoint.host}\r\n\r\n".encode())
        raw = await reader.read(MAX_BYTES + 1)
        while len(raw) <= MAX_BYTES:
            more = await reader.read(MAX_BYTES + 1 - len(raw))
            if not more:
                break
            raw += more
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    if len(raw) > MAX_BYTES or head.split(b" ", 2)[1:2] != [b"200"]:
        return None
    return body.decode("utf-8", "replace")
