"""The watchdog's composition root and its request dispatch.

``create_app(settings, environ)`` builds the runner for the configured mode
and returns a ``Watchdog``, whose ``handle`` is the one handler the HTTP
server calls: ``/_/health`` and ``/_/ready`` are answered here, everything
else goes through the ``max_inflight`` limiter to the runner, counted in
``metrics`` (served at ``/_/metrics``; see ``metrics.py``). Errors raised
below are caught here, and rendered by ``watchdog.errors``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from pyfaas.errors import MethodNotAllowed, PyfaasError
from pyfaas.httpd.messages import Request, Response
from pyfaas.watchdog.errors import render
from pyfaas.watchdog.lifecycle import Lifecycle
from pyfaas.watchdog.limiter import Limiter
from pyfaas.watchdog.log import GoLog
from pyfaas.watchdog.metrics import METRICS_PATH, ReplicaMetrics
from pyfaas.watchdog.runners import Runner
from pyfaas.watchdog.settings import WatchdogSettings

_HEALTH_METHODS = frozenset({"GET", "HEAD"})


class Watchdog:
    def __init__(
        self,
        settings: WatchdogSettings,
        runner: Runner,
        lifecycle: Lifecycle,
        log: GoLog,
        metrics: ReplicaMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or ReplicaMetrics()
        self.runner = runner
        self.lifecycle = lifecycle
        self.limiter = Limiter(settings.max_inflight)
        self.log = log

    async def handle(self, request: Request) -> Response:
        try:
            if request.path == "/_/health":
                return self._health(request, busy=False)
            if request.path == "/_/ready":
                return self._health(request, busy=self.limiter.full)
            if request.path == METRICS_PATH:
                return self._metrics(request)
            self.limiter.acquire()
        except PyfaasError as exc:
            return self.render(exc)
        return await self._invoke(request)

    async def _invoke(self, request: Request) -> Response:
        """The runner's answer to ``request``, holding the limiter's slot taken for it."""
        metrics = self.metrics
        metrics.started()
        began = time.perf_counter()
        status = 500  # what the server answers for a runner that raised
        try:
            try:
                response = await self.runner(request)
            except PyfaasError as exc:
                response = self.render(exc)
            status = response.status
            return response
        finally:
            self.limiter.release()
            metrics.finished(request.method, status, time.perf_counter() - began)

    def _metrics(self, request: Request) -> Response:
        _allowed(request)
        headers = [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")]
        return Response(200, headers, self.metrics.exposition())

    def _health(self, request: Request, *, busy: bool) -> Response:
        # Bodiless answers, as of-watchdog gives them: a probe reads the status only.
        _allowed(request)
        if not self.lifecycle.healthy:
            return Response(503, [("Content-Type", "text/plain")], b"")
        if busy:
            return Response(429, [("Content-Type", "text/plain")], b"")
        return Response(200, [("Content-Type", "text/plain")], b"OK")

    def render(self, exc: PyfaasError) -> Response:
        """Every error raised below the handler, answered as the runner's mode names it."""
        return render(exc, self.runner.internal)


def _allowed(request: Request) -> None:
    """``MethodNotAllowed`` unless ``request`` is a GET or HEAD (the health and metrics routes)."""
    if request.method not in _HEALTH_METHODS:
        raise MethodNotAllowed("Method Not Allowed", allow=sorted(_HEALTH_METHODS))


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
    settings: WatchdogSettings,
    environ: Mapping[str, str],
    log: GoLog | None = None,
    metrics: ReplicaMetrics | None = None,
) -> Watchdog:
    log = log or GoLog()
    lock = None if settings.suppress_lock else os.path.join(settings.lock_dir, ".lock")
    runner = create_runner(settings, environ, log)
    return Watchdog(settings, runner, Lifecycle(lock, log), log, metrics)
