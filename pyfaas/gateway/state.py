"""What one gateway app owns, stored on the ``web.Application`` under one key.

Handlers reach the provider, queue, settings and metrics through this object;
nothing lives at module level.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from pyfaas.credentials import Credentials
from pyfaas.errors import BadRequest, InvalidName
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.naming import validate_namespace
from pyfaas.providers.base import Provider
from pyfaas.queue.base import Queue


@dataclass
class GatewayState:
    settings: GatewaySettings
    provider: Provider
    queue: Queue | None
    credentials: Credentials | None
    metrics: GatewayMetrics

    async def namespace(self, *candidates: str | None) -> str:
        """The first given namespace, else the default; it must exist (else 400)."""
        chosen = next((c for c in candidates if c), self.settings.function_namespace)
        try:
            validate_namespace(chosen)
        except InvalidName as exc:
            raise BadRequest(f"namespace not valid: {exc}") from None
        if chosen != self.settings.function_namespace and chosen not in (
            await self.provider.namespaces()
        ):
            raise BadRequest(f"namespace not valid: {chosen}")
        return chosen


STATE = web.AppKey("pyfaas.gateway.state", GatewayState)
