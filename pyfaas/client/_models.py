"""Results of the client's calls that are not OpenFaaS wire types of their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from pyfaas.errors import PyfaasError
from pyfaas.types import CallStatus, ProviderInfo, VersionInfo


class GatewayInfo(BaseModel):
    """``GET /system/info``: the provider's and the gateway's versions."""

    model_config = ConfigDict(extra="ignore")

    provider: ProviderInfo | None = None
    version: VersionInfo | None = None
    arch: str = ""


@dataclass(frozen=True)
class QueueSummary:
    """``GET /system/queue``: how many calls wait, run, or lie in the dead letters."""

    queued: int
    running: int
    dead: int
    extra: dict[str, Any] = field(default_factory=dict)


def call_status_from_wire(data: Mapping[str, Any]) -> CallStatus:
    """``CallStatus.from_wire``; a malformed record is a ``PyfaasError``."""
    try:
        return CallStatus.from_wire(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PyfaasError(f"the gateway sent a malformed call record: {exc}") from exc
