"""Asynchronous accept rate: ``POST /async-function/noop`` answered 202, nothing draining.

No queue-worker runs while wrk submits, so accepting is measured alone. The
queue's own count must then hold every call wrk saw accepted (and at most
the ``c`` still in flight when wrk stopped counting). The backlog is drained
afterwards by one worker, and that drain is reported too.
"""

from __future__ import annotations

import time

from bench import wrk
from bench.procs import Gateway, Worker, wait_for
from bench.report import Row, at_least, percent, rate, ratio

CONNECTIONS = (10, 50)


def accept_rows(
    gateway: Gateway, queue_url: str, backend: str, echo_port: int, seconds: float
) -> list[Row]:
    rows = []
    for c in CONNECTIONS:
        before = gateway.queue_stats()["queued"]
        result = wrk.run(f"{gateway.url}/async-function/noop", c, seconds)
        stored = gateway.queue_stats()["queued"] - before
        accepted = result.requests - result.non_2xx
        plain = wrk.run(f"http://127.0.0.1:{echo_port}/", c, seconds)
        complete = accepted <= stored <= accepted + c and result.errors == 0
        share = ratio(accepted / result.requests * result.rps if result.requests else 0, plain.rps)
        rows.append(
            Row(
                f"async accept, {backend}, c={c}",
                "202s / aiohttp echo",
                f"{rate(result.rps)} req/s (echo {rate(plain.rps)}), p50 {result.p50_ms:.2f} ms;"
                f" {accepted} accepted, {stored} queued" + ("" if complete else " — MISMATCH"),
                share if complete else 0.0,
                percent(share),
                at_least(0.5, "≥ 0.5x (OpenFaaS, memory NATS: 0.87x)"),
                {"wrk": result.to_json(), "echo": plain.to_json(), "queued": stored},
            )
        )
    rows.append(_drain_backlog(gateway, queue_url, backend))
    return rows


def _drain_backlog(gateway: Gateway, queue_url: str, backend: str) -> Row:
    backlog = gateway.queue_stats()["queued"]
    worker = Worker(gateway, queue_url, max_inflight=50).start()
    try:
        worker.wait_started()
        start = time.monotonic()

        def empty() -> bool:
            worker.check()
            stats = gateway.queue_stats()
            return stats["queued"] + stats["running"] == 0

        wait_for("the backlog to drain", empty, timeout=600)
        took = time.monotonic() - start
    finally:
        worker.stop()
    return Row(
        f"async accept, {backend}",
        "backlog drained by one worker (max_inflight=50)",
        f"{backlog} calls in {took:.1f} s",
        backlog / took,
        f"{rate(backlog / took)}/s",
        data={"calls": backlog, "seconds": took},
    )
