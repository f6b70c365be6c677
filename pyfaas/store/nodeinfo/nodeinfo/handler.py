"""Describe the machine the function runs on; send "verbose" for more detail."""

import json
import os
import platform
import socket
import time

_ARCH = {"x86_64": "x64", "aarch64": "arm64", "armv7l": "arm"}


def _total_memory_mb():
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)


def _uptime():
    try:
        with open("/proc/uptime") as uptime:
            return float(uptime.read().split()[0])
    except OSError:
        return time.monotonic()


def info(verbose=False):
    machine = platform.machine()
    lines = [
        f"Hostname: {socket.gethostname()}",
        "",
        f"Arch: {_ARCH.get(machine, machine)}",
        f"CPUs: {os.cpu_count()}",
        f"Total mem: {_total_memory_mb()}MB",
        f"Platform: {platform.system().lower()}",
        f"Uptime: {_uptime():.2f}",
    ]
    if verbose:
        lines.append(f"Load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        lines.append(f"Python: {platform.python_version()}")
        lines.append(f"Network interfaces: {json.dumps([n for _, n in socket.if_nameindex()])}")
    return "\n".join(lines) + "\n"


def handle(event, context):
    body = event.body
    text = (
        body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body or "")
    )
    return {
        "statusCode": 200,
        "body": info(verbose=text.strip() == "verbose"),
        "headers": {"Content-Type": "text/plain; charset=utf-8"},
    }
