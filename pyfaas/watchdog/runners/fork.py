"""Fork one process, feed it stdin, collect its output: the classic mode's unit of work.

Built on ``loop.subprocess_exec`` with a protocol that only appends bytes,
which is cheaper than asyncio's stream-based ``Process`` and never fails when
the child exits without reading its stdin (``env`` does not read it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(slots=True)
class Outcome:
    code: int  # negative: killed by that signal
    out: bytes
    err: bytes


class _Collector(asyncio.SubprocessProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, readers: int) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.done = loop.create_future()
        self._open = readers + 1  # the pipes we read, plus the process itself

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        (self.out if fd == 1 else self.err).append(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd != 0:
            self._closed()

    def process_exited(self) -> None:
        self._closed()

    def _closed(self) -> None:
        self._open -= 1
        if self._open == 0 and not self.done.done():
            self.done.set_result(None)


class Forked:
    """One running child, started in its own process group."""

    def __init__(self, transport: asyncio.SubprocessTransport, collector: _Collector) -> None:
        self._transport = transport
        self._collector = collector

    @classmethod
    async def start(
        cls, argv: Sequence[str], env: Mapping[str, str], *, combine_output: bool
    ) -> Forked:
        loop = asyncio.get_running_loop()
        readers = 1 if combine_output else 2
        transport, collector = await loop.subprocess_exec(
            lambda: _Collector(loop, readers),
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if combine_output else subprocess.PIPE,
            env=env,
            close_fds=True,
            # Its own process group, so a time-out also kills what it forked.
            start_new_session=True,
        )
        return cls(transport, collector)

    def feed(self, data: bytes) -> None:
        """Write the whole stdin and close it; a child that does not read it is fine."""
        pipe = self._transport.get_pipe_transport(0)
        if pipe is None:
            return
        with contextlib.suppress(OSError, RuntimeError):
            if data:
                pipe.write(data)  # type: ignore[attr-defined]
            pipe.close()

    async def wait(self) -> Outcome:
        try:
            await self._collector.done
        finally:
            self._transport.close()
        code = self._transport.get_returncode()
        c = self._collector
        return Outcome(code if code is not None else -1, b"".join(c.out), b"".join(c.err))

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._transport.get_pid(), signal.SIGKILL)
