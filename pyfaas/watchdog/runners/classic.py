"""Classic mode: fork ``fprocess`` for every request, as OpenFaaS's classic watchdog.

The whole body goes to the child's stdin; its stdout (with stderr when
``combine_output``) is the response. A non-zero exit is a 500 carrying
``exit status N``; passing ``exec_timeout`` kills the child's whole process
group and answers 408 ``Killed process.``.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping

from pyfaas.errors import MethodNotAllowed, PyfaasError, RequestTimeout
from pyfaas.httpd.messages import Request, Response
from pyfaas.watchdog.log import GoLog
from pyfaas.watchdog.runners.cgi import CgiVars, marshal
from pyfaas.watchdog.runners.fork import Forked, Spawner
from pyfaas.watchdog.settings import WatchdogSettings

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class ClassicRunner:
    internal = "faas-middleware"

    def __init__(self, settings: WatchdogSettings, environ: Mapping[str, str], log: GoLog) -> None:
        self._settings = settings
        self._environ = dict(environ)
        self._log = log
        self._failed: asyncio.Future[int] | None = None
        self._spawner = Spawner(settings.fprocess, self._environ)
        self._cgi_vars = CgiVars()

    @property
    def failed(self) -> asyncio.Future[int]:
        # A forked process only ever fails one request, never the replica.
        if self._failed is None:
            self._failed = asyncio.get_running_loop().create_future()
        return self._failed

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._spawner.close()

    async def __call__(self, request: Request) -> Response:
        if request.method not in METHODS:
            raise MethodNotAllowed(f"method {request.method} is not allowed")
        body = await request.body.read()
        settings = self._settings
        stdin = marshal(request, body) if settings.marshal_request else body
        env = self._cgi_vars(request, len(body)) if settings.cgi_headers else {}
        self._log("Forking fprocess.")
        started = time.monotonic()
        child = self._spawn(env, stdin)
        try:
            await self._finished(child)
        except TimeoutError:
            self._log(f"Killing process: {settings.command}")
            child.kill()
            raise RequestTimeout("Killed process.") from None
        duration = time.monotonic() - started
        outcome = child.outcome()
        out = outcome.out
        if outcome.err:
            self._log(f"stderr: {outcome.err.decode('utf-8', 'replace')}")
        if outcome.code != 0:
            return self._failure(outcome.code, out)
        self._report(out, duration)
        headers = [("X-Duration-Seconds", f"{duration:f}")]
        content_type = settings.content_type or request.header("content-type") or _sniff(out)
        headers.append(("Content-Type", content_type))
        return Response(200, headers, out)

    async def _finished(self, child: Forked) -> None:
        timeout = self._settings.exec_timeout
        if not timeout:
            await child.done
            return
        # Shielded: the time-out answers the caller; reaping the killed child goes on.
        async with asyncio.timeout(timeout):
            await asyncio.shield(child.done)

    def _spawn(self, env: Mapping[str, str], stdin: bytes) -> Forked:
        settings = self._settings
        try:
            return self._spawner.start(env, stdin, combine_output=settings.combine_output)
        except OSError as exc:
            raise PyfaasError(f"cannot start {settings.command}: {exc.strerror}") from exc

    def _failure(self, code: int, out: bytes) -> Response:
        reason = f"signal: {_signal_name(-code)}" if code < 0 else f"exit status {code}"
        if self._settings.write_debug:
            self._log(f"Success=false, Error={reason}")
            self._log(f"Out={out.decode('utf-8', 'replace')}")
        return Response(500, [("Content-Type", "text/plain")], reason.encode() + b"\n" + out)

    def _report(self, out: bytes, duration: float) -> None:
        if self._settings.write_debug:
            self._log.raw(out)
        else:
            self._log(f"Wrote {len(out)} Bytes - Duration: {duration:f}s")


def _sniff(out: bytes) -> str:
    """What Go's ``DetectContentType`` says for the common cases."""
    head = out[:512]
    if not head:
        return "text/plain; charset=utf-8"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut at the 512-byte mark is still text.
        if exc.start < len(head) - 3 or len(out) <= 512:
            return "application/octet-stream"
    return "application/octet-stream" if b"\x00" in head else "text/plain; charset=utf-8"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name[3:].lower()
    except ValueError:
        return str(number)
