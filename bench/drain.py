"""Drain efficiency: one queue-worker running N queued calls against the same N made directly.

The calls are queued with no worker running; the worker then starts, and the
drain is timed from the first call's ``started_at`` (so the worker's own start
is not counted) until the queue reports nothing queued or running. The
yardstick is a small asyncio client making the same N calls synchronously
through the gateway, ``k`` at a time, which is the least a worker with
``max_inflight=k`` has to do.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp

from bench.procs import Gateway, Worker, wait_for
from bench.report import Row, at_least, percent, rate, ratio

BODY = b"01234567890123456789"


async def _submit(url: str, calls: int, prefix: str) -> int:
    accepted = 0
    limit = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=limit) as session:

        async def one(i: int) -> None:
            nonlocal accepted
            headers = {"X-Call-Id": f"{prefix}-{i}"}
            async with session.post(url, data=BODY, headers=headers) as answer:
                await answer.read()
                accepted += answer.status == 202

        await asyncio.gather(*(one(i) for i in range(calls)))
    return accepted


async def _direct(url: str, calls: int, k: int) -> float:
    """Seconds to make ``calls`` synchronous calls, ``k`` at a time."""
    left = calls
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=k)) as session:

        async def lane() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(url, data=BODY) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"direct call answered {answer.status}")

        start = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(k)))
        return time.perf_counter() - start


def _drain(gateway: Gateway, queue_url: str, k: int, calls: int) -> float:
    prefix = uuid.uuid4().hex[:8]
    url = f"{gateway.url}/async-function/noop"
    accepted = asyncio.run(_submit(url, calls, prefix))
    if accepted != calls:
        raise RuntimeError(f"only {accepted} of {calls} calls were accepted")
    worker = Worker(gateway, queue_url, max_inflight=k).start()
    try:

        def empty() -> bool:
            worker.check()
            stats = gateway.queue_stats()
            return stats["queued"] + stats["running"] == 0

        wait_for(f"the worker to drain {calls} calls", empty, timeout=300)
        end = time.time()
        first = gateway.call_record(f"{prefix}-0")
        failed = [
            i for i in (0, calls // 2, calls - 1) if _state(gateway, prefix, i) != "succeeded"
        ]
        if failed:
            raise RuntimeError(f"calls {failed} of the drain did not succeed")
    finally:
        worker.stop()
    started = float(first.get("startedAt") or first.get("started_at") or 0)
    return end - started


def _state(gateway: Gateway, prefix: str, i: int) -> str:
    return str(gateway.call_record(f"{prefix}-{i}").get("state"))


def drain_rows(gateway: Gateway, queue_url: str, backend: str, plan: dict[int, int]) -> list[Row]:
    """``plan`` maps ``max_inflight`` to the number of calls to drain at it."""
    rows = []
    for k, calls in plan.items():
        queued = _drain(gateway, queue_url, k, calls)
        direct = asyncio.run(_direct(f"{gateway.url}/function/noop", calls, k))
        share = ratio(direct, queued)
        section = f"drain, {backend}, max_inflight={k}"
        rows.append(
            Row(
                section,
                f"{calls} calls: worker vs direct",
                f"worker {rate(calls / queued)}/s, direct {rate(calls / direct)}/s",
                share,
                percent(share),
                at_least(0.9, "≥ 90 % (overhead ≤ 10 %)"),
                {"calls": calls, "worker_s": queued, "direct_s": direct},
            )
        )
        if k >= 50:
            rows.append(
                Row(
                    section,
                    "worker calls/s",
                    f"{calls} calls in {queued:.2f} s",
                    calls / queued,
                    f"{rate(calls / queued)}/s",
                    at_least(1600, "≥ 1.6k/s (OpenFaaS 810/s)"),
                )
            )
    return rows
