"""The long-running function process of http mode, and its log pipes.

Its stdout and stderr are copied line by line to the watchdog's stdout,
prefixed ``stdout:``/``stderr:`` with the date (of-watchdog's ``prefix_logs``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from pyfaas._children import die_with_parent
from pyfaas.errors import PyfaasError
from pyfaas.watchdog.log import GoLog

_POLL = 0.02


class Child:
    def __init__(
        self, argv: tuple[str, ...], environ: Mapping[str, str], log: GoLog, *, prefix_logs: bool
    ) -> None:
        self._argv = argv
        self._environ = dict(environ)
        self._log = log
        self._prefix_logs = prefix_logs
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._exited: asyncio.Future[int] | None = None

    @property
    def exited(self) -> asyncio.Future[int]:
        """Resolves with the exit code if the process ends without being asked to."""
        if self._exited is None:
            self._exited = asyncio.get_running_loop().create_future()
        return self._exited

    async def start(self) -> None:
        cmd, args = self._argv[0], list(self._argv[1:])
        self._log(f"Forking: {cmd}, arguments: [{' '.join(args)}]")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._environ,
                close_fds=True,
                # A watchdog killed outright must not leave the function's server behind.
                preexec_fn=die_with_parent(),
            )
        except OSError as exc:
            raise PyfaasError(f"cannot start {' '.join(self._argv)}: {exc.strerror}") from exc
        assert self._proc.stdout is not None
        assert self._proc.stderr is not None
        self._tasks = [
            asyncio.create_task(self._pipe(self._proc.stdout, "stdout")),
            asyncio.create_task(self._pipe(self._proc.stderr, "stderr")),
            asyncio.create_task(self._watch(self._proc)),
        ]

    async def wait_for_port(self, host: str, port: int) -> None:
        """Return once the function accepts connections; raise if it exits first."""
        while not self.exited.done():
            try:
                _, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(_POLL)
                continue
            writer.close()
            return
        raise PyfaasError(f"function exited with status {self.exited.result()} before listening")

    async def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if not self._stopping:
            self._log(f"Forked function has terminated: exit status {code}")
            if not self.exited.done():
                self.exited.set_result(code)

    async def _pipe(self, stream: asyncio.StreamReader, name: str) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:
                # A line longer than the reader's limit: take what is there.
                line = await stream.read(65536)
            if not line:
                return
            if self._prefix_logs:
                self._log.write(f"{name}: ".encode() + line)
            else:
                self._log.raw(line)
