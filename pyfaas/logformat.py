"""How every component writes its log: one line per event, as text or as JSON.

``PYFAAS_LOG_FORMAT`` (``text``, the default, or ``json``) is read once by
each process's main: the gateway, the queue-worker, ``pyfaas serve`` and the
watchdog. Text lines stay what they were (the gateway's and the watchdog's
carry Go's ``2026/11/23 21:55:00`` prefix, which OpenFaaS users read). A JSON
line is one object: ``time`` (RFC 3339, UTC, microseconds), ``level``,
``component``, ``msg`` and the event's own fields (the worker's ``seq``), so a
log shipper needs no parsing rules. A message holding a newline is still one
line: JSON escapes it, and ``one_line`` escapes it in text.

Standard library only: the watchdog imports this on every replica's start.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any, TextIO, cast

from pyfaas.errors import ConfigError

LOG_FORMAT = "PYFAAS_LOG_FORMAT"
FORMATS = ("text", "json")
GO_DATE = "%Y/%m/%d %H:%M:%S"
# The worker's lines start with the sequence number of their delivery.
_SEQ = re.compile(r"^\[#(\d+)\] ")


def log_format(environ: Mapping[str, str]) -> str:
    """``text`` or ``json``, from ``PYFAAS_LOG_FORMAT``; anything else is a ``ConfigError``."""
    value = (environ.get(LOG_FORMAT) or "text").strip().lower()
    if value not in FORMATS:
        raise ConfigError(
            f"{LOG_FORMAT}: {environ.get(LOG_FORMAT)!r} is not a log format (use text or json)"
        )
    return value


def rfc3339(seconds: float) -> str:
    """``2026-12-02T13:50:09.123456Z``."""
    whole = int(seconds)
    micros = round((seconds - whole) * 1e6)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros:06d}Z"


def json_line(
    component: str,
    message: str,
    *,
    level: str = "info",
    at: float | None = None,
    **fields: Any,
) -> str:
    """One JSON object, without its newline."""
    record: dict[str, Any] = {
        "time": rfc3339(time.time() if at is None else at),
        "level": level,
        "component": component,
        "msg": message,
    }
    record.update(fields)
    return json.dumps(record, ensure_ascii=False, default=str)


def one_line(text: str) -> str:
    """``text`` with its line breaks escaped, so one event stays one line."""
    if "\n" not in text and "\r" not in text:
        return text
    return text.replace("\r", "\\r").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """``logging`` records as JSON lines; an exception's traceback goes in ``error``."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"logger": record.name}
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return json_line(
            self.component,
            record.getMessage(),
            level=record.levelname.lower(),
            at=record.created,
            **fields,
        )


class TextFormatter(logging.Formatter):
    """Go's prefix, then the message on one line (a traceback's lines escaped too)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", datefmt=GO_DATE)

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


def setup_logging(
    component: str,
    environ: Mapping[str, str],
    *,
    stream: TextIO | None = None,
    level: int = logging.INFO,
) -> str:
    """Send the process's ``logging`` to ``stream`` (stderr) in the chosen format.

    Returns the format, for the process's other writers (``line_writer``).
    """
    fmt = log_format(environ)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(component) if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return fmt


class JsonLines:
    """A text stream that turns each line written to it into a JSON line on ``out``.

    For writers that produce whole lines of text of their own (the worker's
    event log): given to them instead of the stream, it keeps them unchanged.
    A ``[#N]`` prefix becomes the ``seq`` field.
    """

    def __init__(self, out: TextIO, component: str) -> None:
        self._out = out
        self._component = component
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            self._out.write("".join(self._convert(line) + "\n" for line in lines))
        return len(text)

    def _convert(self, line: str) -> str:
        match = _SEQ.match(line)
        if match is None:
            return json_line(self._component, line)
        return json_line(self._component, line[match.end() :], seq=int(match.group(1)))

    def flush(self) -> None:
        self._out.flush()


def line_writer(out: TextIO, component: str, fmt: str) -> TextIO:
    """``out`` itself for text; for JSON, ``out`` behind ``JsonLines``."""
    if fmt == "json":
        # A TextIO as far as its writers go: they only write and flush.
        return cast(TextIO, JsonLines(out, component))
    return out


__all__ = [
    "FORMATS",
    "LOG_FORMAT",
    "JsonFormatter",
    "JsonLines",
    "TextFormatter",
    "json_line",
    "line_writer",
    "log_format",
    "one_line",
    "rfc3339",
    "setup_logging",
]
