"""What one gateway app owns, stored on the ``web.Application`` under one key.

Handlers reach the provider, queue, settings and metrics through this object;
nothing lives at module level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from pyfaas.credentials import Credentials
from pyfaas.errors import BadRequest, InvalidName
from pyfaas.gateway.auth import admin_login
from pyfaas.gateway.callback_rules import CallbackRules
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
    # The public port once listening (``listener``): a callback to it is to this gateway.
    public_port: int = 0
    callback_rules: CallbackRules = field(init=False)
    # The admin login's header value, dropped from what calls carry (auth.admin_login).
    admin: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.admin = admin_login(self.credentials) if self.settings.basic_auth else None
        self.callback_rules = CallbackRules(
            self.settings.callback_allow, self.settings.max_callback_depth
        )

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
