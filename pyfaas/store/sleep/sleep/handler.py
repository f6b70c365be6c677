"""Sleep, then answer: for ?duration=, else the body, else $sleep_duration, else 2s.

A duration is seconds ("1.5") or a Go duration ("500ms", "2s", "1m"). The
watchdog moves a slow handler like this one onto threads, so calls overlap.
"""

import os
import re
import time

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


def requested(event):
    body = event.body
    text = (
        body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body or "")
    )
    query = getattr(event, "query", None) or {}
    for candidate in (query.get("duration", ""), text, os.environ.get("sleep_duration", "")):
        if candidate and candidate.strip():
            return parse_duration(candidate)
    return 2.0


def handle(event, context):
    try:
        seconds = requested(event)
    except ValueError as exc:
        return {"statusCode": 400, "body": f"{exc}\n", "headers": {"Content-Type": "text/plain"}}
    time.sleep(seconds)
    return {
        "statusCode": 200,
        "body": f"Slept for: {seconds:g}s\n",
        "headers": {"Content-Type": "text/plain"},
    }
