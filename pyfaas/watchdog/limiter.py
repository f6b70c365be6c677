"""``max_inflight``: refuse requests beyond a fixed number running at once.

As OpenFaaS's faas-middleware does: the excess request gets 429 at once, it
is never queued, so the caller (gateway or queue-worker) can retry elsewhere.
"""

from __future__ import annotations

from pyfaas.httpd.messages import Response, text_response


class Limiter:
    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight  # 0: unlimited
        self.inflight = 0

    @property
    def full(self) -> bool:
        return 0 < self.max_inflight <= self.inflight

    def try_acquire(self) -> bool:
        if self.full:
            return False
        self.inflight += 1
        return True

    def release(self) -> None:
        self.inflight -= 1

    def refusal(self) -> Response:
        return text_response(
            429,
            f"Concurrent request limit exceeded. Max concurrent requests: {self.max_inflight}",
            [("X-OpenFaaS-Internal", "faas-middleware")],
        )
