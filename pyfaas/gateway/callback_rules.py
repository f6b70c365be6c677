"""Which ``X-Callback-Url`` a submission may name, and how a URL is shown.

Refused at submission (400) unless ``PYFAAS_CALLBACK_ALLOW`` names the host
or a CIDR holding it: a link-local address (169.254.0.0/16, fe80::/10, where
clouds answer with instance metadata and credentials), the metadata address
fd00:ec2::254, and this gateway's own ``/system/...`` (a callback would carry
the function's answer into the gateway's API with the worker's rights).
Only addresses written in the URL are checked: a name that resolves to one
is not looked up here, because resolving at submission costs the hot path a
DNS query and proves nothing about the address the worker will connect to;
the worker checks the address it connects to.

A callback into this gateway's ``/async-function/...`` carries
``X-Pyfaas-Callback-Depth``; a submission deeper than the cap is refused.

Credentials in a URL (``http://user:pw@host/``) are stored, for the worker
needs them, but every URL the gateway shows (call records, dead letters,
error messages, logs) goes through ``redact`` first.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

from pyfaas.errors import BadRequest, ConfigError

DEPTH_HEADER = "X-Pyfaas-Callback-Depth"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_REFUSED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]{1,253}").fullmatch
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)@")
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]{1,64}").fullmatch
_SYSTEM_PATH = re.compile(r"/+system(?:/|$)")


def redact(url: str | None) -> str | None:
    """``url`` with its password (or a lone user name, often a token) shown as ``***``."""
    if url is None or "@" not in url:
        return url
    match = _USERINFO.match(url)
    if match is None:
        return url
    user, colon, _ = match.group(2).partition(":")
    shown = f"{user}:***" if colon else "***"
    return match.group(1) + shown + "@" + url[match.end() :]


def parse_allow(key: str, entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """(host names, networks) of an allow-list; ``ConfigError`` naming a bad entry."""
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if not _HOST_NAME(entry) or "/" in entry:
            raise ConfigError(f"{key}: {entry!r} is neither a host name nor a CIDR")
        names.add(entry.lower().rstrip("."))
    return frozenset(names), tuple(networks)


@dataclass(frozen=True)
class OwnAddress:
    """How this gateway is reached: the request's ``Host`` and the public port."""

    host_header: str | None
    port: int  # 0: not known


class CallbackRules:
    """The rules of one gateway's settings, parsed once."""

    def __init__(self, allow: Iterable[str], max_depth: int) -> None:
        self._names, self._networks = parse_allow("PYFAAS_CALLBACK_ALLOW", allow)
        self.max_depth = max_depth

    def check(self, url: URL, own: OwnAddress) -> None:
        """``BadRequest`` if a callback to ``url`` is refused."""
        host = (url.host or "").lower().rstrip(".")
        address = _address(host)
        if self._allowed(host, address):
            return
        if address is not None and any(address in net for net in _REFUSED):
            raise BadRequest(
                f"X-Callback-Url {redact(str(url))} is a link-local or metadata address;"
                " allow it with PYFAAS_CALLBACK_ALLOW"
            )
        if _SYSTEM_PATH.match(url.path or "/") and _is_own(url, host, address, own):
            raise BadRequest(
                f"X-Callback-Url {redact(str(url))} points at this gateway's /system API;"
                " allow it with PYFAAS_CALLBACK_ALLOW"
            )

    def depth(self, raw: str | None) -> int:
        """The submission's callback depth (``X-Pyfaas-Callback-Depth``), within the cap."""
        if raw is None:
            return 0
        text = raw.strip()
        if not text.isdigit() or not text.isascii() or len(text) > 6:
            raise BadRequest(f"{DEPTH_HEADER} {raw[:20]!r} is not a non-negative integer")
        depth = int(text)
        if depth > self.max_depth:
            raise BadRequest(
                f"{DEPTH_HEADER} {depth} exceeds the cap of {self.max_depth} callbacks in a chain"
                " (PYFAAS_MAX_CALLBACK_DEPTH)"
            )
        return depth

    def _allowed(self, host: str, address: IPAddress | None) -> bool:
        if host in self._names:
            return True
        return address is not None and any(address in net for net in self._networks)


def _address(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return _legacy_ipv4(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:169.254.169.254 reaches the IPv4 address.
        return address.ipv4_mapped
    return address


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address of ``127.1``, ``2852039166`` or ``0xa9.0xfe.0xa9.0xfe``.

    The resolver the worker connects through reads these as IPv4 addresses
    (inet_aton's forms), so they are addresses written in the URL too.
    """
    if not _LEGACY_IPV4(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _is_own(
    url: URL,
    host: str,
    address: IPAddress | None,
    own: OwnAddress,
) -> bool:
    port = url.port
    if own.host_header:
        try:
            given = URL(f"{url.scheme}://{own.host_header}")
        except ValueError:
            given = URL()
        if (given.host or "").lower().rstrip(".") == host and given.port == port:
            return True
    if not own.port or port != own.port:
        return False
    local = address is not None and (address.is_loopback or address.is_unspecified)
    return local or host in _LOOPBACK_NAMES
