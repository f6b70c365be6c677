"""What the HTTP server allows a client: time, head size, and connections.

The names follow Go's ``http.Server`` where it has them (``ReadTimeout``,
``WriteTimeout``, ``IdleTimeout``, ``MaxHeaderBytes``); the gateway's and the
watchdog's settings fill a ``Limits`` each. ``connection`` enforces them:

- ``read_timeout``: a request head must be complete within it of its first
  byte (of the connection's start, for the first request), however slowly
  the bytes trickle in: else 408 and close (close alone if nothing came). A
  body that sends nothing for as long while the server waits for it (not
  while flow control holds it back, nor before a 100 is sent) gets 408 too:
  a stall, not a deadline for the whole body, so big uploads on slow links pass;
- ``write_timeout``: a response write that cannot go on for this long (the
  client reads nothing, the transport stays paused) closes the connection;
- ``idle_timeout``: a keep-alive connection with no request closes after it;
- ``max_header_bytes`` (431) and ``max_request_line_bytes`` (414, for the
  request target), checked as the bytes arrive, so an oversize head is never
  read whole;
- ``max_connections``: see ``capacity``. A timeout of 0 turns it off.

``raise_fd_limit`` lifts the soft ``RLIMIT_NOFILE`` to the hard limit at start,
as Go's runtime does, and ``connection_cap`` keeps the cap below what is then
allowed: each public connection of the gateway may hold an upstream connection
too, and the process needs descriptors of its own (logs, files, the queue).
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from pyfaas._env import Env
from pyfaas.errors import ConfigError

KIB = 1024
# Descriptors kept out of the cap's reach: logs, SQLite, pipes, the listening sockets.
FD_RESERVE = 64
# A public connection may hold one upstream connection besides its own.
FDS_PER_CONNECTION = 2
NR_OPEN = 1 << 20
MIN_HEAD = 256  # bytes: a smaller head limit would refuse every real request


@dataclass(frozen=True, slots=True)
class Limits:
    # A request head must arrive within this many seconds of its first byte (of
    # the connection's start, for the first request); a body that stalls this
    # long between two reads closes the connection too.
    read_timeout: float = 10.0
    # A response write that cannot go on (the client reads nothing) for this long
    # closes the connection.
    write_timeout: float = 10.0
    # A keep-alive connection with no request for this long is closed.
    idle_timeout: float = 75.0
    max_header_bytes: int = 64 * KIB  # request line and headers in all: 431 above
    max_request_line_bytes: int = 8 * KIB  # the request target: 414 above
    max_connections: int = 10_000  # open connections; see capacity


def raise_fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Linux's default nr_open: a soft limit cannot pass it, whatever the hard one says.
    target = NR_OPEN if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY:
        return target
    if soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def connection_cap(wanted: int, fd_limit: int) -> int:
    """``wanted``, or less so that the open connections never exhaust ``fd_limit``."""
    room = (fd_limit - FD_RESERVE) // FDS_PER_CONNECTION
    return max(1, min(wanted, room))


def read_size(env: Env, key: str, default: int, minimum: int = MIN_HEAD) -> int:
    """A size setting of these limits; below ``minimum`` every request would be refused."""
    value = env.size(key, default)
    if value < minimum:
        raise ConfigError(f"{key}: {env.get(key, '')!r} must be at least {minimum} bytes")
    return value
