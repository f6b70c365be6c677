"""Function and system logs as NDJSON files, one per function.

``$PYFAAS_HOME/logs/<namespace>/<name>.ndjson`` holds one JSON object a line,
``{"instance": ..., "timestamp": RFC3339Nano, "text": ...}``. The local
provider appends its replicas' output here; the ``pyfaas serve`` supervisor
appends the gateway's and the queue-worker's output under the namespace
``openfaas``. A file is rotated once it passes a size bound: the current file
becomes ``<name>.ndjson.1`` (replacing any older one), so at most two files
per function exist.

Readers parse lines independently and skip any that are torn or not JSON,
because a reader may see a line while it is being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections import deque
from collections.abc import AsyncGenerator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pyfaas.paths import StatePaths
from pyfaas.types import LogMessage, format_time

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
FOLLOW_INTERVAL = 0.1


@dataclass(frozen=True)
class _Filter:
    namespace: str
    name: str
    since: datetime | None
    instance: str | None

    def parse(self, line: bytes) -> LogMessage | None:
        try:
            raw = json.loads(line)
            stamp = parse_timestamp(raw["timestamp"])
            instance, text = str(raw["instance"]), str(raw["text"])
        except (ValueError, KeyError, TypeError):
            return None
        if self.instance is not None and instance != self.instance:
            return None
        if self.since is not None and stamp < self.since:
            return None
        return LogMessage(
            name=self.name,
            namespace=self.namespace,
            instance=instance,
            timestamp=stamp,
            text=text,
        )


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds; Python keeps microseconds."""
    head, dot, frac = text.partition(".")
    if dot:
        digits = frac.rstrip("Z")
        zone = frac[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class LogStore:
    """Append, read and follow NDJSON log files under ``paths.logs``.

    Open append handles are kept per file so a busy replica does not pay an
    ``open`` per line; ``close`` releases them.
    """

    def __init__(self, paths: StatePaths, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._paths = paths
        self._max_bytes = max_bytes
        self._handles: dict[Path, IO[bytes]] = {}
        self._files: dict[tuple[str, str], Path] = {}
        # Per file: lines that could not be written, and why, until one can.
        self._dropped: dict[Path, tuple[int, str]] = {}

    def path(self, namespace: str, name: str) -> Path:
        # Cached: a classic replica logs two lines a call, and building the
        # path costs more than writing them.
        found = self._files.get((namespace, name))
        if found is None:
            found = self._files[(namespace, name)] = self._paths.log_file(namespace, name)
        return found

    def exists(self, namespace: str, name: str) -> bool:
        path = self.path(namespace, name)
        return path.exists() or _rotated(path).exists()

    def append(
        self, namespace: str, name: str, instance: str, text: str, *, at: datetime | None = None
    ) -> None:
        """Write one line; rotate the file once it passes the size bound."""
        self.append_many(namespace, name, instance, (text,), at=at)

    def append_many(
        self,
        namespace: str,
        name: str,
        instance: str,
        texts: Iterable[str],
        *,
        at: datetime | None = None,
    ) -> None:
        """Write several lines of one instance in one write, with one timestamp.

        A classic function logs two lines a call: one write (and one flush)
        for what a replica printed at once keeps that off the gateway's hot path.
        """
        stamp = format_time(at or datetime.now(UTC), nanos=True)
        # What json.dumps of the whole object writes, with the part shared by
        # every line encoded once (the stamp needs no escaping).
        who = json.dumps(instance, ensure_ascii=False)
        head = f'{{"instance": {who}, "timestamp": "{stamp}", "text": '
        data = "".join(
            f"{head}{json.dumps(text, ensure_ascii=False)}}}\n" for text in texts
        ).encode()
        if not data:
            return
        path = self.path(namespace, name)
        lost = self._dropped.get(path)
        if lost is not None:
            note = f"{lost[0]} log lines were dropped: {lost[1]}"
            data = f"{head}{json.dumps(note)}}}\n".encode() + data
        try:
            handle = self._handle(path)
            handle.write(data)
            handle.flush()
            if handle.tell() >= self._max_bytes:
                self._rotate(path)
        except OSError as exc:
            self._drop(path, data.count(b"\n") - (lost is not None), exc)
            return
        if lost is not None:
            del self._dropped[path]

    def _drop(self, path: Path, lines: int, exc: OSError) -> None:
        """Lose ``lines`` that cannot be written (a full disk, say), not the writer.

        A log that cannot be written must not stop what is logging: the
        pumps of ``pyfaas serve`` and of the replicas would die with the
        error, and with them the supervision of the processes they read.
        The first loss of a spell is said once on stderr; the file says how
        many lines it lacks once writing works again.
        """
        handle = self._handles.pop(path, None)
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
        count, _ = self._dropped.get(path, (0, ""))
        if not count:
            print(f"pyfaas: log lines for {path} are being dropped: {exc}", file=sys.stderr)
        self._dropped[path] = (count + lines, exc.strerror or str(exc))

    def read(
        self,
        namespace: str,
        name: str,
        tail: int = -1,
        since: datetime | None = None,
        instance: str | None = None,
    ) -> list[LogMessage]:
        """Lines matching ``since``/``instance``, oldest first; the last ``tail`` if > 0."""
        messages, _, _ = self._read_all(_Filter(namespace, name, since, instance), tail)
        return messages

    async def follow(
        self,
        namespace: str,
        name: str,
        tail: int = -1,
        since: datetime | None = None,
        instance: str | None = None,
        *,
        interval: float = FOLLOW_INTERVAL,
    ) -> AsyncGenerator[LogMessage, None]:
        """Existing lines as ``read`` gives them, then new ones as they are written.

        Polls the file's size every ``interval`` seconds; ends when cancelled.
        Survives rotation: a file that shrank or was replaced is read from its start.
        """
        where = _Filter(namespace, name, since, instance)
        messages, position, identity = self._read_all(where, tail)
        for message in messages:
            yield message
        path = self.path(namespace, name)
        pending = b""
        while True:
            await asyncio.sleep(interval)
            current = _identity(path)
            if current is None:
                continue
            chunk = b""
            if identity is None or current[0] != identity[0] or current[1] < position:
                # Rotated (or truncated): finish the old file if it was moved aside.
                moved = _identity(_rotated(path))
                if identity is not None and moved is not None and moved[0] == identity[0]:
                    chunk, _ = _read_from(_rotated(path), position)
                position = 0
            identity = current
            fresh, position = _read_from(path, position)
            lines = (pending + chunk + fresh).split(b"\n")
            pending = lines.pop()
            for message in _parse_lines(where, lines):
                yield message

    def close(self) -> None:
        for handle in self._handles.values():
            with contextlib.suppress(OSError):  # what a full disk kept is lost either way
                handle.close()
        self._handles.clear()

    def _handle(self, path: Path) -> IO[bytes]:
        handle = self._handles.get(path)
        if handle is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "ab")  # noqa: SIM115 - kept open across appends
            self._handles[path] = handle
        return handle

    def _rotate(self, path: Path) -> None:
        self._handles.pop(path).close()
        os.replace(path, _rotated(path))

    def _read_all(
        self, where: _Filter, tail: int
    ) -> tuple[list[LogMessage], int, tuple[int, int] | None]:
        """Matching lines of both files, and where a follower continues in the current file.

        The current file is read through one handle so the offset and the
        identity (inode) belong to the same file even if it rotates meanwhile.
        """
        path = self.path(where.namespace, where.name)
        try:
            with open(path, "rb") as handle:
                identity: tuple[int, int] | None = (os.fstat(handle.fileno()).st_ino, 0)
                current = handle.read()
        except FileNotFoundError:
            identity, current = None, b""
        old, _ = _read_from(_rotated(path), 0)
        # Only whole lines count; a torn last line is read again by a follower.
        cut = current.rfind(b"\n") + 1
        lines = old.split(b"\n") + current[:cut].split(b"\n")
        found: Iterable[LogMessage] = _parse_lines(where, lines)
        if tail > 0:
            found = deque(found, maxlen=tail)
        return list(found), cut, identity


def _parse_lines(where: _Filter, lines: Iterable[bytes]) -> Iterator[LogMessage]:
    for line in lines:
        if line.strip():
            message = where.parse(line)
            if message is not None:
                yield message


def _rotated(path: Path) -> Path:
    return path.with_name(path.name + ".1")


def _identity(path: Path) -> tuple[int, int] | None:
    """(inode, size) of ``path``, or None if it does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_size


def _read_from(path: Path, offset: int) -> tuple[bytes, int]:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return b"", 0
    return data, offset + len(data)
