"""Calls claimed ahead of a free slot, handed out one function at a time.

The queue hands functions out in turn; the worker keeps that order for the
calls it claimed ahead: each function with calls waiting here takes its
turn, oldest first within it, so a call of a function that has just
arrived waits for at most one call of each other function, never for all
the calls of a flooded one that were claimed before it. A ``Lane`` is one
kind of slots (function calls, callback deliveries) with its own ``Ready``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator

from pyfaas.queue.envelope import Delivery
from pyfaas.worker.context import CallContext, Handler


class Ready:
    """A queue of deliveries, taken round-robin across their functions."""

    def __init__(self) -> None:
        self._waiting: dict[str, deque[Delivery]] = {}  # function ref -> its calls, oldest first
        self._turns: deque[str] = deque()  # the refs with calls waiting, next turn first
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[Delivery]:
        for ref in self._turns:
            yield from self._waiting[ref]

    def append(self, delivery: Delivery) -> None:
        ref = delivery.call.function_ref
        waiting = self._waiting.get(ref)
        if waiting is None:
            waiting = self._waiting[ref] = deque()
            self._turns.append(ref)
        waiting.append(delivery)
        self._count += 1

    def popleft(self) -> Delivery:
        """The next function's oldest call; that function goes to the back of the turns."""
        ref = self._turns.popleft()
        waiting = self._waiting[ref]
        delivery = waiting.popleft()
        if waiting:
            self._turns.append(ref)
        else:
            del self._waiting[ref]
        self._count -= 1
        return delivery

    def remove(self, delivery: Delivery) -> None:
        """Take ``delivery`` out (its lease was lost); ValueError if it is not here."""
        ref = delivery.call.function_ref
        waiting = self._waiting.get(ref)
        if waiting is None:
            raise ValueError("not waiting")
        waiting.remove(delivery)
        self._count -= 1
        if not waiting:
            del self._waiting[ref]
            self._turns.remove(ref)

    def clear(self) -> None:
        self._waiting.clear()
        self._turns.clear()
        self._count = 0


class Lane:
    """Slots of one kind: function calls, or callback deliveries."""

    def __init__(self, limit: int, handle: Handler) -> None:
        self.limit = limit
        self.handle = handle
        self.running: dict[asyncio.Task[None], CallContext] = {}
        self.ready = Ready()  # claimed ahead, waiting for a slot
