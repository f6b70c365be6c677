"""Stopping a background task for good, even when its code swallows a cancellation.

``task.cancel()`` followed by ``await task`` waits forever if the task
catches that one ``CancelledError`` and goes on, and library code does:
``asyncio.wait_for`` on Python 3.11 drops a cancellation that arrives as its
inner future completes, and nats-py turns one into ``ConnectionClosedError``
or ``pass`` in places. A loop that then sleeps its interval (a minute for
the gateway's pruner) held a gateway's shutdown for that long. ``stop``
cancels again until the task has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

# How long a cancelled task has to end before it is cancelled again.
RECANCEL = 0.05


async def stop(task: asyncio.Future[Any] | None) -> None:
    """Cancel ``task`` until it has ended; its result or error is dropped."""
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL)
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning
