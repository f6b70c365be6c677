"""``max_inflight``: refuse requests beyond a fixed number running at once.

As OpenFaaS's faas-middleware does: the excess request gets 429 at once, it
is never queued, so the caller (gateway or queue-worker) can retry elsewhere.
"""

from __future__ import annotations

from pyfaas.watchdog.errors import Overloaded


class Limiter:
    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight  # 0: unlimited
        self.inflight = 0

    @property
    def full(self) -> bool:
        return 0 < self.max_inflight <= self.inflight

    def acquire(self) -> None:
        """Take a slot; ``Overloaded`` if none is free."""
        if self.full:
            raise Overloaded(self.max_inflight)
        self.inflight += 1

    def release(self) -> None:
        self.inflight -= 1
