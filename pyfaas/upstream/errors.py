"""What the upstream client raises; the caller turns it into its own error.

    UpstreamError             the server could not be reached or broke the protocol
    ├── ConnectFailed         no connection was made: the request never left
    └── StaleConnection       the connection ended before any response byte arrived

The gateway renders an ``UpstreamError`` as 502 (``BadGateway``); the
queue-worker as status 503, with ``ConnectFailed`` meaning the call did not run.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """The server could not be reached or broke the protocol."""


class ConnectFailed(UpstreamError):
    """No connection could be made: the request never left."""


class StaleConnection(UpstreamError):
    """The connection ended before any byte of a response arrived.

    ``sent`` is False when no byte of the request was accepted by the kernel,
    so the server cannot have seen it; True when it may have.
    """

    def __init__(self, message: str, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent
