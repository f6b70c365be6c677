"""Where a server listens, as the pool dials it: a TCP host and port, or a Unix socket.

The gateway makes one from each replica endpoint its provider resolves (and
one for its own API's private socket); the queue-worker makes one from its
``gateway_url``. Addresses that are equal share the pool's idle connections.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Address:
    """A TCP ``host``/``port``, or a Unix socket at ``unix_path``.

    With ``unix_path`` set the pool dials the socket and ``host`` is only what
    the caller names in its ``Host`` header.
    """

    host: str = "127.0.0.1"
    port: int = 0
    unix_path: str | None = None

    def __str__(self) -> str:
        return self.unix_path or f"{self.host}:{self.port}"


# The pool's key for an address: its fields as a tuple, which hashes in C
# where a dataclass's hash is a Python call on every request.
Key = tuple[str, int, str | None]
