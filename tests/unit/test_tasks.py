"""Stopping a background task that swallows a cancellation (``pyfaas._tasks.stop``)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from pyfaas import _tasks as tasks


async def _swallows_once(swallowed: asyncio.Event) -> None:
    """A loop that eats the first cancellation, as ``wait_for`` on 3.11 may, then sleeps on."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        swallowed.set()
    await asyncio.Event().wait()  # never set: only a second cancellation ends it


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again() -> None:
    swallowed = asyncio.Event()
    task = asyncio.create_task(_swallows_once(swallowed))
    await asyncio.sleep(0)
    started = time.monotonic()
    await asyncio.wait_for(tasks.stop(task), timeout=10)
    assert swallowed.is_set()
    assert task.cancelled()
    assert time.monotonic() - started < 10


async def test_a_plain_cancel_and_wait_would_still_be_waiting() -> None:
    """The case ``stop`` exists for: the usual pattern never ends here."""
    swallowed = asyncio.Event()
    task = asyncio.create_task(_swallows_once(swallowed))
    await asyncio.sleep(0)
    task.cancel()
    _, pending = await asyncio.wait({task}, timeout=0.05)
    assert swallowed.is_set()
    assert pending == {task}
    await tasks.stop(task)


async def test_a_task_that_failed_or_ended_is_left_as_it_is() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    with contextlib.suppress(RuntimeError):
        await failed
    await tasks.stop(failed)  # its error was retrieved: nothing raised, nothing warned
    await tasks.stop(None)
    assert failed.done()
    assert not failed.cancelled()
