"""What the listening server knows about all its connections, and the connection cap.

At the cap (``Limits.max_connections``, kept below the descriptor limit) a new
connection makes room by closing the connection that has waited longest for a
request head with no request in flight: a slow client that never finishes its
head (slowloris), or an idle keep-alive connection. Only when every connection
has a request in flight is the new one refused (a 503, then closed). Either
way one line is logged, at most every ``NOTICE_INTERVAL`` seconds, with the
counts since the last line, so a flood is seen without flooding the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pyfaas.httpd.limits import Limits
from pyfaas.httpd.messages import Request, Response

if TYPE_CHECKING:
    from pyfaas.httpd.connection import HttpProtocol

Handler = Callable[[Request], Awaitable[Response]]
Log = Callable[[str], None]
NOTICE_INTERVAL = 10.0  # seconds between two lines about the same condition


def default_log(message: str) -> None:
    logging.getLogger("pyfaas.httpd").warning("%s", message)


class Notice:
    """One log line per interval for a recurring condition, with counts of what happened."""

    def __init__(
        self, log: Log, describe: Callable[[dict[str, int]], str], interval: float = NOTICE_INTERVAL
    ) -> None:
        self._log = log
        self._describe = describe
        self._interval = interval
        self._last = -math.inf
        self._counts: dict[str, int] = {}
        self._handle: asyncio.TimerHandle | None = None

    def note(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1
        if self._handle is not None:
            return  # a line is due already; it will carry this one
        loop = asyncio.get_running_loop()
        wait = self._last + self._interval - loop.time()
        if wait <= 0:
            self.flush()
        else:
            self._handle = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        self._handle = None
        if self._counts:
            counts, self._counts = self._counts, {}
            self._last = asyncio.get_running_loop().time()
            self._log(self._describe(counts))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class ServerState:
    """Connections, requests in flight, and the cap, for one listening server."""

    def __init__(self, handler: Handler, limits: Limits, log: Log | None = None) -> None:
        self.handler = handler
        self.limits = limits
        self.cap = limits.max_connections
        self.log: Log = log or default_log
        self.connections: set[HttpProtocol] = set()
        # Connections with no request in flight that wait for a head, longest first:
        # the ones to close at the cap. A dict keeps insertion order.
        self.waiting: dict[HttpProtocol, None] = {}
        # Accepted, not yet connected to a protocol: by descriptor, each with the
        # token of its accept. A protocol's connection_made takes its entry out
        # and joins ``connections``, so no connection counts twice meanwhile.
        self.pending: dict[int, object] = {}
        self.active = 0  # requests between headers received and response sent
        self.closing = False
        self._idle: asyncio.Event | None = None
        self.full = Notice(self.log, self._describe_full)

    def _describe_full(self, counts: dict[str, int]) -> str:
        return (
            f"connection limit {self.cap} reached: closed {counts.get('shed', 0)} "
            f"connections waiting for a request head, refused {counts.get('refused', 0)}"
        )

    def at_cap(self) -> bool:
        return len(self.connections) + len(self.pending) >= self.cap

    def admit(self) -> bool:
        """Room for one more connection; at the cap, make room or say no."""
        if not self.at_cap():
            return True
        if self.shed_one():
            self.full.note("shed")
            return True
        self.full.note("refused")
        return False

    def shed_one(self) -> bool:
        """Close the connection that has waited longest for a head; False if there is none."""
        victim = next(iter(self.waiting), None)
        if victim is None:
            return False
        victim.shed()
        return True

    def request_started(self) -> None:
        self.active += 1

    def request_finished(self) -> None:
        self.active -= 1
        if self.active == 0 and self._idle is not None:
            self._idle.set()

    async def drain(self, grace: float) -> bool:
        """Close idle connections, wait for in-flight requests; True if all finished."""
        self.closing = True
        for conn in list(self.connections):
            conn.close_if_idle()
        if self.active:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                return False
        return True

    def abort_all(self) -> None:
        self.full.close()
        for conn in list(self.connections):
            conn.transport_close()
