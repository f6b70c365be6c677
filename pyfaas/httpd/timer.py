"""The deadlines of one connection on one timer handle.

Each deadline is a number in loop time (0: none). The handle is moved only
when a deadline comes earlier than the moment it is set for, so setting one
on every request costs no timer call: when the handle fires before any
deadline is due, the connection looks and ``rearm`` sets it for the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# A timer may fire this much before its deadline (uvloop counts whole milliseconds).
SLACK = 0.002


class Deadlines:
    __slots__ = ("_at", "_expired", "_handle", "_loop", "body", "close", "head", "idle", "write")

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Callable[[], None]) -> None:
        self._loop = loop
        self._expired = expired
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0
        self.head = 0.0  # the request head must be complete
        self.body = 0.0  # the next piece of a body must have come
        self.write = 0.0  # a paused write must have resumed
        self.idle = 0.0  # a keep-alive connection must have had a request
        self.close = 0.0  # a closing connection must have flushed

    def arm(self, when: float) -> None:
        """Have the timer fire no later than ``when``."""
        handle = self._handle
        if handle is not None:
            if self._at <= when:
                return
            handle.cancel()
        self._at = when
        self._handle = self._loop.call_at(when, self._fire)

    def rearm(self) -> None:
        """Set the timer for the earliest deadline still ahead."""
        pending = [d for d in (self.head, self.body, self.write, self.idle, self.close) if d > 0]
        if pending:
            self.arm(min(pending))

    def now(self) -> float:
        """The loop's time, as late as a deadline that fired a little early may count."""
        return self._loop.time() + SLACK

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._expired()
