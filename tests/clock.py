"""Clocks a test shares with the memory queue: the real one, and one whose time jumps.

``VirtualClock`` keeps the memory twin's contract (a lease runs out, a delay
passes, a claim waits its whole ``wait``) without the real seconds: its time
moves only when every task is waiting, straight to the earliest deadline
anyone waits for, as trio's autojumping clock does. It is for tests whose
every wait is on it and which do no I/O (the contract suite over the memory
twin); real I/O in flight would not count as work, and time would jump past it.
``RealClock`` is the same interface over the machine's time, for the real backends.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

from pyfaas.queue.backends.memory import Clock, SystemClock

# Each reading of the time moves it on this much, as a real clock would have
# moved between two readings: records made one after the other never tie.
TICK = 1e-6
# Loop turns with nothing but waiting before time jumps: enough for a task
# that was just woken to run, take its next step and wait again.
IDLE_TURNS = 20


class SharedClock(Clock, Protocol):
    """The queue's clock, and a sleep on it for the test itself."""

    async def sleep(self, seconds: float) -> None: ...


class RealClock(SystemClock):
    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualClock:
    """Time that passes only while everything waits for it."""

    def __init__(self) -> None:
        self._elapsed = 0.0
        self._monotonic0 = time.monotonic()
        self._wall0 = time.time()
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def monotonic(self) -> float:
        self._elapsed += TICK
        return self._monotonic0 + self._elapsed

    def time(self) -> float:
        self._elapsed += TICK
        return self._wall0 + self._elapsed

    async def sleep(self, seconds: float) -> None:
        await self._timer(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
        if event.is_set():
            return
        timer = self._timer(timeout)
        woken = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({timer, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            woken.cancel()

    def _timer(self, seconds: float) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        deadline = self._elapsed + max(seconds, 0.0)
        heapq.heappush(self._timers, (deadline, next(self._order), future))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive(), name="virtual-clock")
        return future

    async def _drive(self) -> None:
        """Once the loop has been idle a while, jump to the earliest deadline and wake it."""
        while True:
            for _ in range(IDLE_TURNS):
                await asyncio.sleep(0)
            while self._timers and self._timers[0][2].done():
                heapq.heappop(self._timers)  # a wait that ended otherwise
            if not self._timers:
                return
            deadline, _, future = heapq.heappop(self._timers)
            self._elapsed = max(self._elapsed, deadline)
            future.set_result(None)
