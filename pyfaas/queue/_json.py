"""JSON on the queue's hot path: orjson, and the standard library for what orjson refuses.

Every accepted call is encoded once by the gateway and decoded once by the
worker, and with NATS every settle writes a record: orjson does each in a
fraction of the standard library's time (``docs/performance.md``, "Queue:
payloads and records through orjson"). The bytes are JSON either way, so
calls stored by either read the same. orjson refuses strings that hold lone
surrogates, which the standard library writes as escapes; such values take
the standard library both ways, and any ``str`` round-trips as it did.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON, as ``json.dumps(value, separators=(",", ":"))`` would read back."""
    try:
        return orjson.dumps(value)
    except TypeError:  # a lone surrogate, an integer past 64 bits, or not JSON at all
        return json.dumps(value, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ``json.JSONDecodeError`` as ``json.loads`` does."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:  # maybe an escaped lone surrogate, which json accepts
        return json.loads(data)
