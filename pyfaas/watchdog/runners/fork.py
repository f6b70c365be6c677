"""Fork one process, feed it stdin, collect its output: the classic mode's unit of work.

``posix_spawn`` (vfork and exec, no copy of the watchdog's page tables) with
raw pipes. Every descriptor Python opens is close-on-exec, so the child
inherits only the three pipes (the effect of ``close_fds``) and nothing has
to close descriptor ranges per call.

Where the cost per call went, and what is done about it (docs/performance.md):

* The program is looked up on ``PATH`` once (``Spawner``): ``posix_spawnp``
  tries one ``execve`` per ``PATH`` entry, in the child but while the loop
  waits for the vfork to return.
* The spawn stays on the loop's thread. Run on threads through libc with the
  GIL released it cost more CPU per call (GIL hand-offs) than it saved: the
  machine is out of CPU, not out of loop time, at these rates.
* A body that fits in the pipe (``PIPE_BUF``) is written, and the pipe closed,
  before the child exists: no writer to register, no non-blocking switch.
* Output pipes (and, rarely, a pidfd) go into one epoll set of our own that
  the event loop watches as a single descriptor (``ChildWatch``). Registering
  a descriptor with the event loop costs several system calls each way
  (uvloop checks, switches to non-blocking, adds and removes); here it is one
  ``epoll_ctl`` each way, and the wake-ups of all children come in one poll.
* The exit is reaped with ``waitpid(WNOHANG)`` once the output is at EOF; a
  child is usually gone by then. Only one still running (it closed its output
  early, or is still exiting) gets a pidfd to wait on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

_READ_SIZE = 65536
_MAX_EVENTS = 64  # per poll; level-triggered, so the rest come in the next one
# Every signal that can be set: SIGKILL and SIGSTOP cannot.
_SIGDEF = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}


@dataclass(slots=True)
class Outcome:
    code: int  # negative: killed by that signal
    out: bytes
    err: bytes


class ChildWatch:
    """One epoll set for every child's descriptors, watched by the loop as one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._epoll = select.epoll()
        self._callbacks: dict[int, Callable[[], None]] = {}
        loop.add_reader(self._epoll.fileno(), self._dispatch)

    def watch(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever ``fd`` is readable (or at EOF), until ``unwatch``."""
        self._epoll.register(fd, select.EPOLLIN)
        self._callbacks[fd] = callback

    def unwatch(self, fd: int) -> None:
        """Stop watching ``fd``; the caller closes it."""
        if self._callbacks.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def close(self) -> None:
        self.loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        self._callbacks.clear()

    def _dispatch(self) -> None:
        for fd, _ in self._epoll.poll(0, _MAX_EVENTS):
            # An earlier callback of this batch may have unwatched it.
            callback = self._callbacks.get(fd)
            if callback is not None:
                callback()


class Spawner:
    """Starts children of one command line with one base environment."""

    def __init__(self, argv: Sequence[str], environ: Mapping[str, str]) -> None:
        self.argv = list(argv)
        self._environ = dict(environ)
        found = shutil.which(argv[0], path=environ.get("PATH", os.defpath))
        # Not found now: let every call search (and fail) as the Go watchdog does.
        self._program = found if found is not None and "/" not in argv[0] else argv[0]
        self._watch: ChildWatch | None = None
        # Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive exec:
        # the function gets every signal at its default, as under Go. (libc
        # resets handled signals in the child anyway; named, it skips asking.)
        self._sigdef = _SIGDEF

    def start(self, extra: Mapping[str, str], stdin: bytes, *, combine_output: bool) -> Forked:
        """Start the child with the base environment plus ``extra`` and ``stdin`` as its input.

        Raises ``OSError`` if it cannot be started.
        """
        r_in, w_in = os.pipe()
        try:
            rest = _prefill(w_in, stdin)
        except OSError:
            _close(r_in, w_in)
            raise
        if not rest:
            _close(w_in)  # the child reads the body, then EOF
        r_out, w_out = os.pipe()
        r_err, w_err = (None, None) if combine_output else os.pipe()
        ours = Pipes(w_in if rest else None, rest, r_out, r_err)
        # posix_spawn returns once the child has exec'd: short enough to block the loop.
        try:
            pid = self._spawn(extra, (r_in, w_out, w_out if w_err is None else w_err))
        except OSError:
            _close(ours.stdin, r_out, r_err)
            raise
        finally:
            _close(r_in, w_out, w_err)
        return Forked(self.watch, pid, ours)

    @property
    def watch(self) -> ChildWatch:
        if self._watch is None:
            self._watch = ChildWatch(asyncio.get_running_loop())
        return self._watch

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _spawn(self, extra: Mapping[str, str], fds: tuple[int, int, int]) -> int:
        env = {**self._environ, **extra} if extra else self._environ
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)]
        spawn = os.posix_spawn if "/" in self._program else os.posix_spawnp
        return spawn(
            self._program,
            self.argv,
            env,
            file_actions=actions,
            setsid=True,
            setsigdef=self._sigdef,
        )


@dataclass(slots=True)
class Pipes:
    """The watchdog's ends of one child's pipes."""

    stdin: int | None  # None: the whole body was written before the spawn
    rest: memoryview  # what is still to be written to stdin
    stdout: int
    stderr: int | None


class Forked:
    """One running child, the leader of its own session and process group."""

    def __init__(self, watch: ChildWatch, pid: int, pipes: Pipes) -> None:
        self.pid = pid
        self._watch = watch
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._code = -1
        self._open = 1 if pipes.stderr is None else 2  # output pipes not yet at EOF
        self._done: asyncio.Future[None] = watch.loop.create_future()
        self._stdin = pipes.stdin
        self._input = pipes.rest
        stdout, stderr = pipes.stdout, pipes.stderr
        watch.watch(stdout, lambda: self._readable(stdout, self._out))
        if stderr is not None:
            watch.watch(stderr, lambda: self._readable(stderr, self._err))
        if self._stdin is not None:
            self._write_input()

    @property
    def done(self) -> asyncio.Future[None]:
        """Resolves once the output is at EOF and the child has been reaped."""
        return self._done

    def outcome(self) -> Outcome:
        return Outcome(self._code, b"".join(self._out), b"".join(self._err))

    async def wait(self) -> Outcome:
        # Shielded: a caller's time-out must not stop the reaping and closing.
        await asyncio.shield(self._done)
        return self.outcome()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    # -- stdin larger than the pipe's atomic size --------------------------

    def _write_input(self) -> None:
        assert self._stdin is not None
        try:
            while self._input:
                written = os.write(self._stdin, self._input)
                self._input = self._input[written:]
        except BlockingIOError:
            self._watch.loop.add_writer(self._stdin, self._continue_input)
            return
        except OSError:
            pass  # the child closed its stdin or exited: the rest is not wanted
        _close(self._stdin)
        self._stdin = None

    def _continue_input(self) -> None:
        assert self._stdin is not None
        self._watch.loop.remove_writer(self._stdin)
        self._write_input()

    # -- output and exit ---------------------------------------------------

    def _readable(self, fd: int, sink: list[bytes]) -> None:
        # Level-triggered and read once per event: the blocking read cannot block.
        try:
            data = os.read(fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            sink.append(data)
            return
        self._watch.unwatch(fd)
        _close(fd)
        self._open -= 1
        if self._open == 0:
            self._reap()

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, -1
        if pid == 0:
            self._watch_exit()
            return
        self._finish(status)

    def _watch_exit(self) -> None:
        pidfd = os.pidfd_open(self.pid)

        def exited() -> None:
            self._watch.unwatch(pidfd)
            _close(pidfd)
            _, status = os.waitpid(self.pid, 0)
            self._finish(status)

        self._watch.watch(pidfd, exited)

    def _finish(self, status: int) -> None:
        self._code = os.waitstatus_to_exitcode(status) if status >= 0 else -1
        if not self._done.done():
            self._done.set_result(None)


def _prefill(fd: int, data: bytes) -> memoryview:
    """Write what fits before the child starts; return what is left to write after."""
    if len(data) <= select.PIPE_BUF:
        # An empty pipe always takes PIPE_BUF bytes: the blocking write cannot block.
        if data:
            os.write(fd, data)
        return memoryview(b"")
    os.set_blocking(fd, False)
    try:
        written = os.write(fd, data)
    except BlockingIOError:
        written = 0
    return memoryview(data)[written:]


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            # Not contextlib.suppress: a context manager per close, several per call.
            try:  # noqa: SIM105
                os.close(fd)
            except OSError:
                pass
