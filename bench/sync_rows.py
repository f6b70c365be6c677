"""Synchronous rows: the gateway against the replica it forwards to and a plain echo server."""

from __future__ import annotations

from bench import wrk
from bench.report import Row, at_least, at_most, millis, percent, rate, ratio

CONNECTIONS = (1, 10, 50)


def _measured(result: wrk.WrkResult) -> str:
    return f"{rate(result.rps)} req/s, p50 {millis(result.p50_ms)}, p99 {millis(result.p99_ms)}"


def echo_rows(gateway_url: str, replica_port: int, echo_port: int, seconds: float) -> list[Row]:
    """python3-http echo: gateway vs its replica directly vs a plain aiohttp echo server."""
    rows = []
    for c in CONNECTIONS:
        via = wrk.run(f"{gateway_url}/function/echo", c, seconds)
        direct = wrk.run(f"http://127.0.0.1:{replica_port}/", c, seconds)
        plain = wrk.run(f"http://127.0.0.1:{echo_port}/", c, seconds)
        data = {"gateway": via.to_json(), "replica": direct.to_json(), "aiohttp": plain.to_json()}
        section = f"sync python3-http echo, c={c}"
        share = ratio(via.rps, plain.rps)
        added = via.p50_ms - direct.p50_ms
        rows += [
            Row(section, "replica direct", _measured(direct), data=data),
            Row(section, "aiohttp echo direct", _measured(plain)),
            Row(
                section,
                "gateway / replica",
                _measured(via),
                ratio(via.rps, direct.rps),
                percent(ratio(via.rps, direct.rps)),
            ),
            Row(
                section,
                "gateway / aiohttp echo",
                f"{rate(via.rps)} vs {rate(plain.rps)} req/s",
                share,
                percent(share),
                at_least(0.20, "≥ 20 % at c=10 (OpenFaaS 16 %)") if c == 10 else None,
            ),
            Row(
                section,
                "added p50 (gateway - replica)",
                f"{millis(via.p50_ms)} vs {millis(direct.p50_ms)}",
                added,
                millis(added),
                at_most(0.5, "≤ 0.5 ms at c=1") if c == 1 else None,
            ),
        ]
    return rows


def cat_rows(gateway_url: str, replica_port: int, seconds: float) -> list[Row]:
    """Classic ``cat`` forked per request: gateway vs the watchdog directly."""
    rows = []
    for c in CONNECTIONS:
        via = wrk.run(f"{gateway_url}/function/cat", c, seconds)
        direct = wrk.run(f"http://127.0.0.1:{replica_port}/", c, seconds)
        section = f"sync classic cat, c={c}"
        data = {"gateway": via.to_json(), "replica": direct.to_json()}
        rows += [
            Row(section, "watchdog direct", _measured(direct), data=data),
            Row(
                section,
                "gateway",
                _measured(via),
                via.rps,
                f"{rate(via.rps)} req/s",
                at_least(1500, "≥ 1.5k req/s (OpenFaaS 1.58k)") if c >= 10 else None,
            ),
            Row(
                section,
                "gateway / watchdog",
                f"added p50 {millis(via.p50_ms - direct.p50_ms)}",
                ratio(via.rps, direct.rps),
                percent(ratio(via.rps, direct.rps)),
            ),
        ]
    return rows
