"""HTTP facts shared by every component that forwards a request or a response.

The gateway's proxy, the queue-worker (calls and callbacks) and the
watchdog's http mode all drop the same hop-by-hop headers (RFC 9110 §7.6.1),
and ``Expect`` with them: RFC 9110 lets a proxy forward it, but every server
here answers ``100-continue`` itself, and one forwarded would make the next
server send an interim 100 that nobody waits for (a queued call would carry
it to every replay).
Names are lower case: compare ``name.lower()``, because functions' servers
and clients write header names in any case.
"""

from __future__ import annotations

from collections.abc import Iterable

HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The value of the first header called ``name``, in any case; None if there is none."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None
