"""TimeLimit: the hot paths' time limit behaves as asyncio.timeout does."""

from __future__ import annotations

import asyncio

import pytest

from pyfaas._timeouts import TimeLimit


async def test_an_await_past_the_limit_raises_timeout_error() -> None:
    with pytest.raises(TimeoutError), TimeLimit(0.05) as limit:
        await asyncio.sleep(5)
    assert limit.expired
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # nothing left over for the next await
    await asyncio.sleep(0)


async def test_an_await_within_the_limit_returns_and_leaves_no_timer() -> None:
    with TimeLimit(5) as limit:
        await asyncio.sleep(0.01)
    assert not limit.expired
    await asyncio.sleep(0.05)  # a stray timer would cancel this sleep


async def test_no_limit_waits_as_long_as_it_takes() -> None:
    with TimeLimit(None) as limit:
        await asyncio.sleep(0.05)
    assert not limit.expired


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def guarded() -> None:
        with TimeLimit(5):
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_arriving_with_the_expiry_stays_a_cancellation() -> None:
    async def guarded() -> None:
        with TimeLimit(0.05):
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.05)  # the limit expires about now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_outside_an_event_loop_it_refuses() -> None:
    with pytest.raises(RuntimeError), TimeLimit(1):
        pass
