"""One supervised child process of ``pyfaas serve``: start, pump output, stop.

Each output line goes to the log store (so ``pyfaas logs queue-worker`` and
``/system/logs?name=gateway`` can read it) and to the terminal, prefixed
with the component's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

from pyfaas._children import die_with_parent

LineSink = Callable[[str, str, str], None]  # (component, instance, text)


class Child:
    """A component process; ``instance`` is its pid while it runs."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        sink: LineSink,
        fresh: Callable[[], Mapping[str, str]] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._env = dict(env)
        # Settings chosen anew at each start (the cluster server the queue connects to).
        self._fresh = fresh
        self._sink = sink
        # Descriptors each start inherits (the gateway's listening socket, which serve holds).
        self._pass_fds = tuple(pass_fds)
        self._proc: asyncio.subprocess.Process | None = None
        self._pumps: list[asyncio.Task[None]] = []

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    async def start(self) -> None:
        env = {**self._env, **(self._fresh() if self._fresh else {})}
        self._proc = await asyncio.create_subprocess_exec(
            *self._argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            pass_fds=self._pass_fds,
            # Its own process group: a terminal's Ctrl-C reaches only the
            # supervisor, which then stops the children in order.
            start_new_session=True,
            # A kill -9 of serve takes the component (and, level by level, all below it) along.
            preexec_fn=die_with_parent(),
        )
        assert self._proc.stdout is not None
        self._pumps = [asyncio.create_task(self._pump(self._proc.stdout, str(self._proc.pid)))]

    async def _pump(self, stream: asyncio.StreamReader, instance: str) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the reader's limit
                line = await stream.read(65536)
            if not line:
                return
            self._sink(self.name, instance, line.decode(errors="replace").rstrip("\n"))

    async def wait(self) -> int:
        assert self._proc is not None
        code = await self._proc.wait()
        for pump in self._pumps:
            try:
                await pump
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                # A pump that failed has lost output, not the child: its exit
                # code must still reach the supervisor, which restarts it.
                print(f"pyfaas: output of {self.name} was lost: {exc!r}", file=sys.stderr)
        return code

    async def stop(self, grace: float) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds. Returns the exit code."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return proc.returncode if proc else None
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return await self.wait()


def python_module(module: str) -> list[str]:
    """argv running ``module`` with this interpreter (never through a shim)."""
    return [sys.executable, "-m", module]
