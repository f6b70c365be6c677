"""Backoff, Retry-After, annotations and the retry decision."""

from __future__ import annotations

import random
import time
from email.utils import formatdate

import pytest

from pyfaas.errors import ConfigError
from pyfaas.worker.retries import PolicyCache, RetryPolicy, backoff, decide, retry_after

POLICY = RetryPolicy(attempts=3, codes=frozenset({429, 503}), min_wait=1.0, max_wait=8.0)


def test_backoff_stays_between_min_and_a_doubling_ceiling() -> None:
    rng = random.Random(7)
    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        waits = [backoff(POLICY, failures, rng) for _ in range(200)]
        assert min(waits) >= 1.0
        assert max(waits) <= ceiling
    spread = [backoff(POLICY, 4, rng) for _ in range(200)]
    assert max(spread) - min(spread) > 3  # jittered, not fixed


def test_retry_after_seconds_and_date() -> None:
    now = time.time()
    assert retry_after("5", now) == 5.0
    assert retry_after(None, now) is None
    assert retry_after("soon", now) is None
    in_ten = retry_after(formatdate(now + 10, usegmt=True), now)
    assert in_ten is not None
    assert 8 <= in_ten <= 11
    assert retry_after(formatdate(now - 100, usegmt=True), now) == 0.0


def test_decide() -> None:
    rng = random.Random(1)
    assert not decide(POLICY, 200, 1, None, rng).retry
    assert not decide(POLICY, 500, 1, None, rng).retry
    assert decide(POLICY, 503, 1, None, rng).retry
    assert not decide(POLICY, 503, 3, None, rng).retry
    assert decide(POLICY, 429, 1, "30", rng).delay == 30.0
    assert decide(POLICY, 429, 1, "0", rng).delay == 1.0  # never below min wait


def test_annotations_override_and_reject_bad_values() -> None:
    policy = POLICY.with_annotations(
        {
            "com.openfaas.retry.attempts": "5",
            "com.openfaas.retry.codes": "500",
            "com.openfaas.retry.min_wait": "2s",
            "com.openfaas.retry.max_wait": "1m",
            "com.pyfaas.queue.max_inflight": "2",
        }
    )
    assert (policy.attempts, policy.codes, policy.min_wait, policy.max_wait) == (
        5,
        frozenset({500}),
        2.0,
        60.0,
    )
    assert policy.max_inflight == 2
    with pytest.raises(ConfigError):
        POLICY.with_annotations({"com.openfaas.retry.attempts": "lots"})


async def test_policy_cache_shares_lookups_and_survives_errors() -> None:
    asked: list[str] = []

    async def lookup(name: str, namespace: str) -> dict[str, str] | None:
        asked.append(name)
        if name == "broken":
            raise OSError("gateway down")
        if name == "gone":
            return None
        return {"com.openfaas.retry.attempts": "9"}

    errors: list[str] = []
    cache = PolicyCache(POLICY, lookup, ttl=60, on_error=errors.append)
    first = await cache.get("fn", "ns")
    second = await cache.get("fn", "ns")
    assert first.attempts == second.attempts == 9
    assert asked == ["fn"]
    assert await cache.get("broken", "ns") == POLICY
    assert errors
    assert (await cache.get("gone", "ns")).exists is False
    await cache.close()
