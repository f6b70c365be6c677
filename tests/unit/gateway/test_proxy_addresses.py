"""The proxy's addresses for replica endpoints: one made per endpoint, and a bounded number kept."""

from __future__ import annotations

from pyfaas.gateway import proxy
from pyfaas.upstream import Address


def test_an_endpoint_gets_one_address_that_later_calls_reuse() -> None:
    addresses = proxy._Addresses()
    first = addresses["127.0.0.1", 8080, None]
    assert first == Address("127.0.0.1", 8080)
    assert addresses["127.0.0.1", 8080, None] is first
    assert addresses["localhost", 0, "/run/r.sock"] == Address("localhost", 0, "/run/r.sock")
    assert len(addresses) == 2


def test_addresses_past_the_bound_start_the_cache_anew() -> None:
    addresses = proxy._Addresses()
    for port in range(proxy.ADDRESSES_KEPT):
        addresses["127.0.0.1", port, None]
    assert len(addresses) == proxy.ADDRESSES_KEPT
    assert addresses["127.0.0.1", 1, None].port == 1  # a hit: nothing dropped
    assert addresses["127.0.0.1", 99999, None].port == 99999
    assert len(addresses) == 1
