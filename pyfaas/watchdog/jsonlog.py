"""The watchdog's log as JSON lines, for ``PYFAAS_LOG_FORMAT=json``.

The same writer as ``GoLog`` (lines of one loop turn go out in one write),
with each message an object from ``pyfaas.logformat.json_line`` instead of
a line with Go's prefix. What the function itself printed (``raw``: its
output with ``write_debug``, an http-mode server's stdout) becomes one object
a line too, with ``"source": "function"``.
"""

from __future__ import annotations

from pyfaas.logformat import json_line
from pyfaas.watchdog.log import GoLog

COMPONENT = "watchdog"


class JsonLog(GoLog):
    def write(self, message: bytes) -> None:
        text = message.rstrip(b"\n").decode("utf-8", "replace")
        self._emit(json_line(COMPONENT, text).encode() + b"\n")

    def raw(self, data: bytes) -> None:
        lines = data.decode("utf-8", "replace").splitlines()
        out = "".join(json_line(COMPONENT, line, source="function") + "\n" for line in lines)
        if out:
            self._emit(out.encode())


def watchdog_log(fmt: str, fd: int = 1) -> GoLog:
    """The watchdog's log for ``fmt`` (``text`` or ``json``)."""
    return JsonLog(fd) if fmt == "json" else GoLog(fd)
