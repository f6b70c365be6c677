"""The one place the watchdog turns errors into responses.

Everything below the watchdog's handler raises ``PyfaasError`` subclasses: a
runner's time-out or unreachable function, a request beyond
``max_inflight`` (``Overloaded``), a method the health routes do not take,
an expectation the aiohttp server cannot meet. ``render`` writes each the way
Go's ``http.Error`` does (one ``text/plain`` line and a newline), with the
headers the error carries and ``X-OpenFaaS-Internal`` naming the part of
the watchdog that answered, so a caller tells the watchdog's own answer
from the function's.
"""

from __future__ import annotations

from pyfaas.errors import Headers, PyfaasError, TooManyRequests
from pyfaas.httpd.messages import Response, text_response

INTERNAL = "X-OpenFaaS-Internal"


class Overloaded(TooManyRequests):
    """A request beyond ``max_inflight``: refused at once, never queued, as
    OpenFaaS's faas-middleware refuses it (so the caller can retry elsewhere)."""

    def __init__(self, max_inflight: int) -> None:
        super().__init__(
            f"Concurrent request limit exceeded. Max concurrent requests: {max_inflight}"
        )

    @property
    def headers(self) -> Headers:
        return ((INTERNAL, "faas-middleware"),)


def render(exc: PyfaasError, internal: str | None = None) -> Response:
    """``exc`` as the watchdog answers it; ``internal`` names who answered unless the
    error names itself (``Overloaded``); None: no ``X-OpenFaaS-Internal`` at all."""
    headers = list(exc.headers)
    if internal is not None and all(name != INTERNAL for name, _ in headers):
        headers.insert(0, (INTERNAL, internal))
    return text_response(exc.status, exc.message, headers)


__all__ = ["INTERNAL", "Overloaded", "render"]
