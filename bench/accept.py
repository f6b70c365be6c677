"""Asynchronous accept rate: ``POST /async-function/noop`` answered 202, nothing draining.

No queue-worker runs while wrk submits, so accepting is measured alone. The
echo yardstick and the accepting gateway alternate for a few rounds, and
the round with the median ratio is the one judged. After each round the
queue's own count must hold every call wrk saw accepted (and at most the
``c`` still in flight when wrk stopped counting). The backlog is drained
afterwards by one worker, and that drain is reported too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench import wrk
from bench.procs import Gateway, Worker, wait_drained
from bench.report import Row, at_least, median_round, percent, rate, ratio, spread

CONNECTIONS = (10, 50)
ROUNDS = 5  # echo and accept alternate; the median round is judged


@dataclass(frozen=True)
class _Round:
    result: wrk.WrkResult
    plain: wrk.WrkResult
    accepted: int
    stored: int

    @property
    def share(self) -> float:
        """Accepted calls a second against the echo's requests a second."""
        if not self.result.requests:
            return 0.0
        return ratio(self.accepted / self.result.requests * self.result.rps, self.plain.rps)


def _round(gateway: Gateway, echo_port: int, c: int, seconds: float) -> _Round:
    plain = wrk.run(f"http://127.0.0.1:{echo_port}/", c, seconds)
    before = gateway.queue_stats()["queued"]
    result = wrk.run(f"{gateway.url}/async-function/noop", c, seconds)
    stored = gateway.queue_stats()["queued"] - before
    return _Round(result, plain, result.requests - result.non_2xx, stored)


def accept_rows(
    gateway: Gateway,
    queue_url: str,
    backend: str,
    echo_port: int,
    seconds: float,
    rounds: int = ROUNDS,
) -> list[Row]:
    rows = []
    for c in CONNECTIONS:
        measured = [_round(gateway, echo_port, c, seconds) for _ in range(rounds)]
        # Every round must have stored what it accepted, not only the one shown.
        complete = all(
            r.accepted <= r.stored <= r.accepted + c and r.result.errors == 0 for r in measured
        )
        shown = median_round(measured, lambda r: r.share)
        result, plain = shown.result, shown.plain
        rows.append(
            Row(
                f"async accept, {backend}, c={c}",
                "202s / aiohttp echo",
                f"{rate(result.rps)} req/s (echo {rate(plain.rps)}), p50 {result.p50_ms:.2f} ms;"
                f" {shown.accepted} accepted, {shown.stored} queued"
                + ("" if complete else " — MISMATCH")
                + f"; rounds {spread([r.share for r in measured])}",
                shown.share if complete else 0.0,
                percent(shown.share, 1),
                at_least(0.5, "≥ 0.5x (OpenFaaS, memory NATS: 0.87x)"),
                {
                    "wrk": result.to_json(),
                    "echo": plain.to_json(),
                    "queued": shown.stored,
                    "rounds": [r.share for r in measured],
                },
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

        wait_drained(gateway, worker, "the backlog to drain", timeout=600)
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
