"""The addresses a callback post may connect to: never cloud metadata, whatever the name says.

The gateway refuses, at submission, a callback URL that names a
link-local address (169.254.0.0/16, fe80::/10: where clouds answer with
instance metadata and credentials) or the metadata address fd00:ec2::254,
but it does not resolve names: a name may resolve there, or be made to
later. The worker's callback session resolves through ``GuardedResolver``,
which drops such addresses from every answer, so the post connects only to
the others, and fails (for good: ``Refused``) when none is left. Hosts and
networks in ``PYFAAS_CALLBACK_ALLOW`` (the gateway's setting, read by the
worker too) pass as they are. The check costs nothing per post beyond the
look-up the connection makes anyway (cached by the connector); an address
written in the URL is checked before the post, as the gateway did.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from pyfaas.errors import ConfigError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
REFUSED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)


class Refused(OSError):
    """The callback's host is, or resolves only to, an address no callback may reach."""


@dataclass(frozen=True)
class Allowed:
    """``PYFAAS_CALLBACK_ALLOW``: host names and networks a callback may reach regardless."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, key: str, raw: str | None) -> Allowed:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for part in (raw or "").split(","):
            entry = part.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or not entry.replace("-", "").replace(".", "").isalnum():
                raise ConfigError(f"{key}: {entry!r} is neither a host name nor a CIDR")
            names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def refused(self, address: str) -> bool:
        """True if ``address`` (an IP literal) is one no callback may connect to."""
        try:
            ip = ipaddress.ip_address(address.strip("[]").partition("%")[0])
        except ValueError:
            return False  # a name: its addresses are checked when it is resolved
        if any(ip in net for net in self.networks):
            return False
        return any(ip in net for net in REFUSED)

    def check_host(self, host: str) -> None:
        """Raise ``Refused`` for a URL host that is a refused address written out."""
        if host.lower().rstrip(".") not in self.names and self.refused(host):
            raise Refused(f"{host} is a link-local or metadata address")


NOTHING_ALLOWED = Allowed()


class GuardedResolver(AbstractResolver):
    """Resolves as ``inner`` does, without the addresses no callback may reach."""

    def __init__(self, allowed: Allowed, inner: AbstractResolver | None = None) -> None:
        self._allowed = allowed
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if host.lower().rstrip(".") in self._allowed.names:
            return found
        kept = kept_addresses(self._allowed, found)
        if not kept:
            raise Refused(f"{host} resolves only to link-local or metadata addresses")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def kept_addresses(allowed: Allowed, found: Iterable[ResolveResult]) -> list[ResolveResult]:
    return [result for result in found if not allowed.refused(result["host"])]
