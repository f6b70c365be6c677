"""Sleep, then answer: for ?duration=, else the body, else $sleep_duration, else 2s.

A duration is seconds ("1.5") or a Go duration ("500ms", "2s", "1m").
"""

import os
import re
import sys
import time
from urllib.parse import parse_qs

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text):
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration (use 2, 2s, 500ms or 1m)")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def requested(req):
    query = parse_qs(os.environ.get("Http_Query", ""))
    for candidate in (query.get("duration", [""])[0], req, os.environ.get("sleep_duration", "")):
        if candidate and candidate.strip():
            return parse_duration(candidate)
    return 2.0


def handle(req):
    try:
        seconds = requested(req)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
    time.sleep(seconds)
    return f"Slept for: {seconds:g}s"
