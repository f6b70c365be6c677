"""Fork one process, feed it stdin, collect its output: the classic mode's unit of work.

``posix_spawn`` (vfork and exec, no copy of the watchdog's page tables), raw
pipes watched by the event loop, and a pidfd to learn of the exit. Measured
two to four times cheaper per call than ``loop.subprocess_exec`` here, and it
never fails when the child exits without reading its stdin (``env`` does
not read it). Every descriptor Python opens is close-on-exec, so the child
inherits only the three pipes (the effect of ``close_fds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_READ_SIZE = 65536


@dataclass(slots=True)
class Outcome:
    code: int  # negative: killed by that signal
    out: bytes
    err: bytes


class Forked:
    """One running child, the leader of its own session and process group."""

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int | None) -> None:
        self._loop = asyncio.get_running_loop()
        self.pid = pid
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._code = -1
        self._pending = 2 if stderr is None else 3  # exit, stdout, stderr
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._stdin = stdin
        self._input = memoryview(b"")
        self._watch_pipe(stdout, self._out)
        if stderr is not None:
            self._watch_pipe(stderr, self._err)
        self._watch_exit()

    @classmethod
    def start(cls, argv: Sequence[str], env: Mapping[str, str], *, combine_output: bool) -> Forked:
        # posix_spawn returns once the child has exec'd: short enough to block the loop.
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        r_err, w_err = (None, None) if combine_output else os.pipe()
        actions = [
            (os.POSIX_SPAWN_DUP2, r_in, 0),
            (os.POSIX_SPAWN_DUP2, w_out, 1),
            (os.POSIX_SPAWN_DUP2, w_out if w_err is None else w_err, 2),
        ]
        try:
            pid = os.posix_spawnp(argv[0], list(argv), env, file_actions=actions, setsid=True)
        except OSError:
            _close(w_in, r_out, r_err)
            raise
        finally:
            _close(r_in, w_out, w_err)
        return cls(pid, w_in, r_out, r_err)

    def feed(self, data: bytes) -> None:
        """Write the whole stdin, then close it; a child that does not read it is fine."""
        os.set_blocking(self._stdin, False)
        self._input = memoryview(data)
        self._write_input()

    async def wait(self) -> Outcome:
        # Shielded: a caller's time-out must not stop the reaping and closing.
        await asyncio.shield(self._done)
        return Outcome(self._code, b"".join(self._out), b"".join(self._err))

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    # -- event-loop callbacks ------------------------------------------------

    def _write_input(self) -> None:
        try:
            while self._input:
                written = os.write(self._stdin, self._input)
                self._input = self._input[written:]
        except BlockingIOError:
            self._loop.add_writer(self._stdin, self._continue_input)
            return
        except OSError:
            pass  # the child closed its stdin or exited: the rest is not wanted
        _close(self._stdin)

    def _continue_input(self) -> None:
        self._loop.remove_writer(self._stdin)
        self._write_input()

    def _watch_pipe(self, fd: int, sink: list[bytes]) -> None:
        os.set_blocking(fd, False)

        def readable() -> None:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                sink.append(data)
                return
            self._loop.remove_reader(fd)
            _close(fd)
            self._finished()

        self._loop.add_reader(fd, readable)

    def _watch_exit(self) -> None:
        pidfd = os.pidfd_open(self.pid)

        def exited() -> None:
            self._loop.remove_reader(pidfd)
            _close(pidfd)
            _, status = os.waitpid(self.pid, 0)
            self._code = os.waitstatus_to_exitcode(status)
            self._finished()

        self._loop.add_reader(pidfd, exited)

    def _finished(self) -> None:
        self._pending -= 1
        if self._pending == 0 and not self._done.done():
            self._done.set_result(None)


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
