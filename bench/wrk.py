"""Run ``wrk`` with a 20-byte POST body and parse what it prints."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BODY = "01234567890123456789"
LUA = f'wrk.method = "POST"\nwrk.body = "{BODY}"\n'
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int

    def to_json(self) -> dict[str, float | int]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "requests": self.requests,
            "non_2xx": self.non_2xx,
            "errors": self.errors,
        }


def parse_duration_ms(text: str) -> float:
    """``156.00us`` -> 0.156; ``1.23ms`` -> 1.23; ``2.00s`` -> 2000."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse(output: str) -> WrkResult:
    """The figures of one ``wrk --latency`` run."""

    def number(pattern: str, default: str | None = None) -> str:
        match = re.search(pattern, output)
        if match is None:
            if default is None:
                raise ValueError(f"wrk output has no match for {pattern!r}:\n{output}")
            return default
        return match.group(1)

    errors = sum(
        int(n)
        for n in re.findall(
            r"(?:connect|read|write|timeout) (\d+)", number(r"Socket errors:([^\n]*)", "")
        )
    )
    return WrkResult(
        rps=float(number(r"Requests/sec:\s*([\d.]+)")),
        p50_ms=parse_duration_ms(number(r"\n\s*50%\s+(\S+)")),
        p99_ms=parse_duration_ms(number(r"\n\s*99%\s+(\S+)")),
        requests=int(number(r"(\d+) requests in")),
        non_2xx=int(number(r"Non-2xx or 3xx responses:\s*(\d+)", "0")),
        errors=errors,
    )


def run(url: str, connections: int, seconds: float) -> WrkResult:
    """``wrk -t1 -cN -dS --latency`` POSTing the 20-byte body to ``url``."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(LUA)
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
        done = subprocess.run(
            [*argv, "-s", str(script), url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed on {url}: {done.stderr.strip() or done.stdout.strip()}")
    return parse(done.stdout)
