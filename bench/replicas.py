"""Find the port a function's replica listens on, from ``/proc``.

The local provider binds each replica's socket itself and passes it down as
``PYFAAS_LISTEN_FD``; the replica's environment names its function
(``OPENFAAS_NAME``). So: find the process with that name in its environment,
follow that fd to its socket inode, and look the inode up among the listening
TCP sockets. No debug endpoint is needed, and the gateway is not involved.
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"


def _environ(pid: Path) -> dict[str, str]:
    try:
        raw = (pid / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}


def _listening_ports() -> dict[str, int]:
    """Socket inode -> port of every listening IPv4 TCP socket."""
    found = {}
    for line in (PROC / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == _LISTEN:
            found[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def replica_port(function: str) -> int:
    """The port of one live replica of ``function``; ``LookupError`` if there is none."""
    ports = _listening_ports()
    for pid in PROC.iterdir():
        if not pid.name.isdigit():
            continue
        env = _environ(pid)
        fd = env.get("PYFAAS_LISTEN_FD")
        if env.get("OPENFAAS_NAME") != function or fd is None:
            continue
        try:
            target = (pid / "fd" / fd).readlink()
        except OSError:
            continue
        inode = str(target).removeprefix("socket:[").removesuffix("]")
        if inode in ports:
            return ports[inode]
    raise LookupError(f"no listening replica of {function} found in /proc")
