"""Parsing of setting values shared by every settings module.

Values follow OpenFaaS's conventions: a duration is an integer number of
seconds or a Go duration (``65s``, ``1m30s``, ``500ms``); a bool accepts Go's
``ParseBool`` spellings. A bad value raises ``ConfigError`` naming the key and
the value; nothing silently falls back to a default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyfaas.errors import ConfigError

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_SIZE = re.compile(r"^(\d+)\s*([kKmMgG]i?)?[bB]?$")
_SIZE_FACTOR = {
    "": 1,
    "k": 1000,
    "ki": 1024,
    "m": 1000**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gi": 1024**3,
}


def parse_duration(key: str, value: str) -> float:
    """Seconds from ``30``, ``30s``, ``1m30s`` or ``250ms``."""
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    pos = 0
    total = 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ConfigError(f"{key}: {value!r} is not a duration (use 30, 30s, 1m30s or 250ms)")
    return total


def parse_bool(key: str, value: str) -> bool:
    text = value.strip()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key}: {value!r} is not a boolean (use true or false)")


def parse_int(key: str, value: str, *, minimum: int | None = None) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{key}: {value!r} must be at least {minimum}")
    return number


def parse_size(key: str, value: str) -> int:
    """Bytes from ``1048576``, ``512k``, ``64Mi`` or ``1GB``."""
    match = _SIZE.match(value.strip())
    if not match:
        raise ConfigError(f"{key}: {value!r} is not a size (use 1048576, 512Ki or 64Mi)")
    return int(match.group(1)) * _SIZE_FACTOR[(match.group(2) or "").lower()]


class Env:
    """Typed reads from an injected environment mapping."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def get(self, key: str, default: str) -> str:
        return self._environ.get(key, default)

    def optional(self, key: str) -> str | None:
        value = self._environ.get(key)
        return value if value else None

    def duration(self, key: str, default: float) -> float:
        raw = self._environ.get(key)
        return default if raw is None or raw == "" else parse_duration(key, raw)

    def boolean(self, key: str, default: bool) -> bool:
        raw = self._environ.get(key)
        return default if raw is None or raw == "" else parse_bool(key, raw)

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        raw = self._environ.get(key)
        if raw is None or raw == "":
            return default
        return parse_int(key, raw, minimum=minimum)

    def size(self, key: str, default: int) -> int:
        raw = self._environ.get(key)
        return default if raw is None or raw == "" else parse_size(key, raw)
