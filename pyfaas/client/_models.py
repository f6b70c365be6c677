"""Results of the client's calls that are not OpenFaaS wire types of their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from pyfaas.errors import PyfaasError
from pyfaas.queue.envelope import CallRecord, CallState
from pyfaas.types import ProviderInfo, VersionInfo


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


def call_record_from_wire(data: Mapping[str, Any]) -> CallRecord:
    """The inverse of ``CallRecord.to_wire``; a malformed record is a ``PyfaasError``."""
    try:
        return CallRecord(
            call_id=str(data["callId"]),
            function=str(data["function"]),
            namespace=str(data["namespace"]),
            state=CallState(data["state"]),
            attempts=int(data.get("attempts") or 0),
            submitted_at=float(data.get("submittedAt") or 0.0),
            started_at=_opt_float(data.get("startedAt")),
            finished_at=_opt_float(data.get("finishedAt")),
            status_code=_opt_int(data.get("statusCode")),
            error=data.get("error"),
            callback_url=data.get("callbackUrl"),
            callback_status=_opt_int(data.get("callbackStatus")),
            callback_attempts=int(data.get("callbackAttempts") or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PyfaasError(f"the gateway sent a malformed call record: {exc}") from exc


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
