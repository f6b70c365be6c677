"""Several classic-mode watchdog processes on one listening socket.

A classic call forks the function, and the watchdog's own share of each call
(HTTP, the spawn, which holds its thread until the child has exec'd, reading
the output, reaping) runs on one event loop. With one process those shares
queue behind each other while a core sits idle: a ``cat`` function used
three quarters of this 2-core machine. OpenFaaS's Go watchdog runs its
requests on every core; here the first process forks ``count - 1`` more
before it starts its loop, and the kernel hands each new connection to one
of them.

The first process stays in charge. It forwards SIGTERM to the others and
waits for them before it exits; if one of them dies on its own, it stops
them all and exits 1, so the provider starts the replica again. The others
stop when told to, or when the first process is gone (they hold the read
end of a pipe only it can write to).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

from pyfaas.watchdog.log import GoLog


class Workers:
    def __init__(self, count: int) -> None:
        self.count = count
        self.index = 0  # 0: the first process; 1..count-1: the others
        self._pids: list[int] = []
        self._parent_gone: int | None = None  # read end, in the others
        self._keep: int | None = None  # write end, in the first process
        self._stopping = False
        self._all_gone = asyncio.Event()

    @property
    def first(self) -> bool:
        return self.index == 0

    def fork(self, log: GoLog) -> None:
        """Start the other processes; on return, ``index`` says which one this is."""
        if self.count <= 1:
            return
        read, write = os.pipe()
        for index in range(1, self.count):
            log.flush()  # what is buffered would be written twice
            pid = os.fork()
            if pid == 0:
                os.close(write)
                self.index, self._pids, self._parent_gone = index, [], read
                return
            self._pids.append(pid)
        os.close(read)
        self._keep = write
        log(f"Started {self.count} processes on the listening socket")

    def watch(self, stop: Callable[[], None], crashed: Callable[[str], None]) -> None:
        """Call ``stop`` when this process should stop, ``crashed`` when another died."""
        loop = asyncio.get_running_loop()
        if self._parent_gone is not None:
            fd = self._parent_gone

            def parent_gone() -> None:
                loop.remove_reader(fd)  # at EOF for good: once is enough
                stop()

            loop.add_reader(fd, parent_gone)
            return
        for pid in self._pids:
            fd = os.pidfd_open(pid)
            loop.add_reader(fd, self._exited, loop, fd, pid, crashed)

    def stop(self) -> None:
        """In the first process: tell the others to drain and stop (again is harmless)."""
        if self._stopping:
            return
        self._stopping = True
        for pid in self._pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    async def wait(self) -> None:
        """In the first process: wait until the others have exited."""
        if self._pids:
            await self._all_gone.wait()

    def _exited(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        pid: int,
        crashed: Callable[[str], None],
    ) -> None:
        loop.remove_reader(fd)
        os.close(fd)
        _, status = os.waitpid(pid, 0)
        self._pids.remove(pid)
        if not self._pids:
            self._all_gone.set()
        if not self._stopping:
            crashed(f"watchdog process {pid} exited ({_describe(status)})")


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"code {os.waitstatus_to_exitcode(status)}"
