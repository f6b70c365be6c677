"""Inproc mode: the python3-http template's handler runs inside the watchdog.

``handle(event, context)`` is imported once from ``PYFAAS_HANDLER`` and called
per request, with no extra process or HTTP hop. Its return value is turned
into a response as the template's ``index.py`` does (see ``shape``).

A sync handler runs inline on the event loop while it is quick: handing each
call to a thread pool costs two to three times the throughput of an echo
handler (docs/performance.md). The first call slower than
``SLOW_CALL`` moves that handler to the pool for good, so a slow handler
cannot keep health checks and other requests waiting again.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyfaas.errors import ConfigError, GatewayTimeout, PyfaasError
from pyfaas.httpd.messages import Request, Response
from pyfaas.watchdog.log import GoLog
from pyfaas.watchdog.runners.event import Context, Event, shape
from pyfaas.watchdog.settings import WatchdogSettings

HandlerFunc = Callable[[Event, Context], Any]

SLOW_CALL = 0.005  # seconds


def load_handler(spec: str, directory: str) -> HandlerFunc:
    """Import ``module:function`` with ``directory`` first on ``sys.path``."""
    module_name, _, func_name = spec.partition(":")
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"PYFAAS_HANDLER: cannot import {module_name!r}: {exc!r}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ConfigError(f"PYFAAS_HANDLER: {module_name!r} has no function {func_name!r}")
    return func  # type: ignore[no-any-return]


class InprocRunner:
    internal = "of-watchdog"

    def __init__(self, settings: WatchdogSettings, environ: Mapping[str, str], log: GoLog) -> None:
        self._settings = settings
        self._log = log
        self._context = Context(hostname=environ.get("HOSTNAME", "localhost"))
        self._directory = os.getcwd()
        self._func: HandlerFunc | None = None
        self._is_async = False
        self._pool: ThreadPoolExecutor | None = None
        self._inline = settings.inproc_threads != "always"
        self._adaptive = settings.inproc_threads == "auto"
        self._failed: asyncio.Future[int] | None = None

    @property
    def failed(self) -> asyncio.Future[int]:
        if self._failed is None:
            self._failed = asyncio.get_running_loop().create_future()
        return self._failed

    async def start(self) -> None:
        self._func = load_handler(self._settings.handler, self._directory)
        self._is_async = inspect.iscoroutinefunction(self._func)
        self._log(f"Loaded handler {self._settings.handler}")

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, request: Request) -> Response:
        event = Event.from_request(request, await request.body.read())
        timeout = self._settings.exec_timeout or None
        try:
            result = await asyncio.wait_for(self._invoke(event), timeout)
        except TimeoutError as exc:
            raise GatewayTimeout(f"handler did not return within {timeout:g}s") from exc
        return shape(result)

    def _call_inline(self, func: HandlerFunc, event: Event) -> Any:
        started = time.monotonic()
        try:
            return func(event, self._context)
        finally:
            if self._adaptive and time.monotonic() - started > SLOW_CALL:
                self._inline = False
                self._log("Handler is slow: running it in threads from now on")

    async def _invoke(self, event: Event) -> Any:
        func = self._func
        assert func is not None
        try:
            if self._is_async:
                return await func(event, self._context)
            if self._inline:
                return self._call_inline(func, event)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(thread_name_prefix="handler")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, func, event, self._context)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            raise PyfaasError(f"{type(exc).__name__}: {exc}") from exc
