"""Network namespaces as stand-in machines: each joined to the host by its own veth pair.

``namespaces(n)`` creates ``n`` namespaces named after this process, each
with loopback up and one veth pair: ``host_addr`` on the host side,
``addr`` inside, a /30 from 198.18.0.0/15 (the range set aside for
benchmarking networks, RFC 2544), and a default route to the host. A
process inside reaches any host-side address (the host delivers it
locally), so a server bound to one host-side address serves every
namespace. Everything is removed on exit, even after a failure.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

IP = "ip"


@dataclass(frozen=True)
class NetNamespace:
    name: str
    host_if: str
    inner_if: str
    host_addr: str
    addr: str

    def prefix(self) -> list[str]:
        """The command prefix that runs a command inside this namespace."""
        return [IP, "netns", "exec", self.name]


def _ip(*args: str) -> None:
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")


def unavailable_reason() -> str | None:
    """Why network namespaces cannot be made here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which(IP) is None:
        return "iproute2's ip command is not installed"
    probe = f"pyfaas-probe-{os.getpid()}"
    veth = f"pfp{os.getpid() % 100000}"
    try:
        _ip("netns", "add", probe)
        _ip("-n", probe, "link", "set", "lo", "up")
        _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}i", "netns", probe)
    except OSError as exc:
        return f"cannot create network namespaces and veth pairs here: {exc}"
    finally:
        with contextlib.suppress(OSError):
            _ip("link", "del", veth)
        with contextlib.suppress(OSError):
            _ip("netns", "del", probe)
    return None


def _free_subnet_octet() -> int:
    """A third octet of 198.18.x.0/24 that no host address uses yet."""
    listing = subprocess.run(
        [IP, "-o", "addr"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    start = os.getpid() % 250
    for step in range(250):
        octet = (start + step) % 250 + 1
        if f"198.18.{octet}." not in listing:
            return octet
    raise OSError("no free 198.18.x.0/24 subnet for test namespaces")


def _describe(index: int, octet: int) -> NetNamespace:
    tag = f"{os.getpid() % 100000}x{index}"
    network = ipaddress.ip_network(f"198.18.{octet}.{index * 4}/30")
    host, inner = list(network.hosts())
    return NetNamespace(
        name=f"pyfaas-{os.getpid()}-{index}",
        host_if=f"pfh{tag}",
        inner_if=f"pfn{tag}",
        host_addr=str(host),
        addr=str(inner),
    )


def _create(ns: NetNamespace) -> None:
    _ip("netns", "add", ns.name)
    _ip("-n", ns.name, "link", "set", "lo", "up")
    _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.inner_if, "netns", ns.name)
    _ip("addr", "add", f"{ns.host_addr}/30", "dev", ns.host_if)
    _ip("link", "set", ns.host_if, "up")
    _ip("-n", ns.name, "addr", "add", f"{ns.addr}/30", "dev", ns.inner_if)
    _ip("-n", ns.name, "link", "set", ns.inner_if, "up")
    _ip("-n", ns.name, "route", "add", "default", "via", ns.host_addr)


def _delete(ns: NetNamespace) -> None:
    # Deleting either end of a veth pair deletes both; the namespace goes once empty.
    with contextlib.suppress(OSError):
        _ip("link", "del", ns.host_if)
    with contextlib.suppress(OSError):
        _ip("netns", "del", ns.name)


@contextlib.contextmanager
def namespaces(count: int) -> Iterator[list[NetNamespace]]:
    """``count`` fresh namespaces, removed on exit whatever happened."""
    octet = _free_subnet_octet()
    made: list[NetNamespace] = []
    try:
        for index in range(count):
            ns = _describe(index, octet)
            made.append(ns)  # before creating it, so a half-made one is removed too
            _create(ns)
        yield made
    finally:
        for ns in made:
            _delete(ns)
