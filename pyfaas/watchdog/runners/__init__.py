"""How a request reaches the function: one runner per watchdog mode.

A runner is started once (``start``), then called per request, then stopped.
``failed`` resolves with an exit code if the function dies for good (http
mode's long-running child), which makes the watchdog exit so the provider
restarts the replica.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from pyfaas.httpd.messages import Request, Response


class Runner(Protocol):
    # Value of X-OpenFaaS-Internal on responses the watchdog itself produced.
    internal: str

    @property
    def failed(self) -> asyncio.Future[int]: ...

    async def start(self) -> None: ...

    async def __call__(self, request: Request) -> Response: ...

    async def stop(self) -> None: ...
