"""The watchdog's composition root and its request dispatch.

``create_app(settings, environ)`` builds the runner for the configured mode
and returns a ``Watchdog``, whose ``handle`` is the one handler the HTTP
server calls: ``/_/health`` and ``/_/ready`` are answered here, everything
else goes through the ``max_inflight`` limiter to the runner. Errors raised
below are rendered here, and only here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pyfaas.errors import PyfaasError
from pyfaas.httpd.messages import Request, Response, text_response
from pyfaas.watchdog.lifecycle import Lifecycle
from pyfaas.watchdog.limiter import Limiter
from pyfaas.watchdog.log import GoLog
from pyfaas.watchdog.runners import Runner
from pyfaas.watchdog.settings import WatchdogSettings

_HEALTH_METHODS = frozenset({"GET", "HEAD"})


class Watchdog:
    def __init__(
        self, settings: WatchdogSettings, runner: Runner, lifecycle: Lifecycle, log: GoLog
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.lifecycle = lifecycle
        self.limiter = Limiter(settings.max_inflight)
        self.log = log

    async def handle(self, request: Request) -> Response:
        if request.path == "/_/health":
            return self._health(request, busy=False)
        if request.path == "/_/ready":
            return self._health(request, busy=self.limiter.full)
        if not self.limiter.try_acquire():
            return self.limiter.refusal()
        try:
            return await self.runner(request)
        except PyfaasError as exc:
            return self.render(exc)
        finally:
            self.limiter.release()

    def _health(self, request: Request, *, busy: bool) -> Response:
        if request.method not in _HEALTH_METHODS:
            return text_response(405, "Method Not Allowed")
        if not self.lifecycle.healthy:
            return Response(503, [("Content-Type", "text/plain")], b"")
        if busy:
            return Response(429, [("Content-Type", "text/plain")], b"")
        return Response(200, [("Content-Type", "text/plain")], b"OK")

    def render(self, exc: PyfaasError) -> Response:
        """The one place a watchdog error becomes a response."""
        headers = [("X-OpenFaaS-Internal", self.runner.internal), *exc.headers]
        return text_response(exc.status, exc.message, headers)


def create_runner(settings: WatchdogSettings, environ: Mapping[str, str], log: GoLog) -> Runner:
    # Imported here so a mode's dependencies load only when that mode runs.
    if settings.mode == "http":
        from pyfaas.watchdog.runners.http import HttpRunner

        return HttpRunner(settings, environ, log)
    if settings.mode == "inproc":
        from pyfaas.watchdog.runners.inproc import InprocRunner

        return InprocRunner(settings, environ, log)
    from pyfaas.watchdog.runners.classic import ClassicRunner

    return ClassicRunner(settings, environ, log)


def create_app(
    settings: WatchdogSettings, environ: Mapping[str, str], log: GoLog | None = None
) -> Watchdog:
    log = log or GoLog()
    lock = None if settings.suppress_lock else os.path.join(settings.lock_dir, ".lock")
    return Watchdog(settings, create_runner(settings, environ, log), Lifecycle(lock, log), log)
