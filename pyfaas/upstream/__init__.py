"""A lean HTTP/1.1 client over pooled keep-alive connections, shared by two components.

Its callers:

* the gateway's proxy, calling the replicas its provider resolves (TCP on
  loopback, or a Unix socket);
* the gateway's public front, passing ``/system`` and the other API routes
  to its own aiohttp application on a private Unix socket;
* the queue-worker, calling the gateway at its ``http://`` ``gateway_url``,
  which may be on another machine (an ``https://`` one goes through aiohttp).

It does a small, strict part of HTTP/1.1 only: one request at a time per
connection, bodies framed by ``Content-Length`` or chunked, no redirects, no
cookies, no decompression, no TLS. Doing just that costs a fraction of a
general client's per-request work (see docs/performance.md).

Modules, one role each: ``address`` (where to dial), ``connection`` (one
connection's buffer and flow control), ``request`` (the bytes sent),
``response`` (the head parsed, the body framed, interim responses passed
over), ``pool`` (idle connections per address and when a request is sent
again), ``errors`` (what callers catch).
"""

from __future__ import annotations

from pyfaas.upstream.address import Address
from pyfaas.upstream.errors import ConnectFailed, StaleConnection, UpstreamError
from pyfaas.upstream.pool import REPLAYABLE, Body, UpstreamPool
from pyfaas.upstream.response import UpstreamResponse

__all__ = [
    "REPLAYABLE",
    "Address",
    "Body",
    "ConnectFailed",
    "StaleConnection",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamResponse",
]
