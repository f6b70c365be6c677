"""Results of the client's calls that are not OpenFaaS wire types of their own."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from pyfaas.errors import PyfaasError
from pyfaas.types import CallState, CallStatus, ProviderInfo, VersionInfo

# After these a call changes no more (a dead letter changes only when replayed).
FINAL_STATES = frozenset(
    {CallState.SUCCEEDED, CallState.FAILED, CallState.DEAD, CallState.CANCELLED, CallState.EXPIRED}
)


class GatewayInfo(BaseModel):
    """``GET /system/info``: the provider's and the gateway's versions."""

    model_config = ConfigDict(extra="ignore")

    provider: ProviderInfo | None = None
    version: VersionInfo | None = None
    arch: str = ""


@dataclass(frozen=True)
class FunctionQueue:
    """One function's row of ``GET /system/queue``; ``oldest_age`` in seconds, 0 if none wait."""

    function: str  # name.namespace
    queued: int = 0
    delayed: int = 0
    running: int = 0
    retrying: int = 0
    dead: int = 0
    oldest_age: float = 0.0
    processed: int = 0  # settled for good, by success or as a dead letter
    callback_failures: int = 0  # callbacks that failed for good


@dataclass(frozen=True)
class QueueSummary:
    """``GET /system/queue``: how many calls wait, run, or lie in the dead letters."""

    queued: int
    running: int
    dead: int
    extra: dict[str, Any] = field(default_factory=dict)
    delayed: int = 0
    retrying: int = 0
    functions: tuple[FunctionQueue, ...] = ()


@dataclass(frozen=True)
class CallResult:
    """``GET /system/calls/{id}/result``: the function's answer as it gave it.

    ``truncated`` is the full size in bytes when the stored body was cut to
    the worker's cap (``X-Result-Truncated``), else ``None``.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@dataclass(frozen=True)
class CallOutcome:
    """What ``wait_result`` found: the call in its final state, and its result if one was kept."""

    call: CallStatus
    result: CallResult | None


@dataclass(frozen=True)
class DeadRequest:
    """The request of a dead letter, as it was queued; ``size`` is its body's length."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    size: int


@dataclass(frozen=True)
class DeadLetter:
    """``GET /system/dead-letters/{id}``: the call, and its request while it is kept."""

    call: CallStatus
    request: DeadRequest | None


def call_status_from_wire(data: Mapping[str, Any]) -> CallStatus:
    """``CallStatus.from_wire``; a malformed record is a ``PyfaasError``."""
    try:
        return CallStatus.from_wire(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PyfaasError(f"the gateway sent a malformed call record: {exc}") from exc


def queue_summary_from_wire(data: Any) -> QueueSummary:
    """The totals and the per-function rows; a gateway without rows gives none."""
    try:
        known = {k: int(data[k]) for k in ("queued", "running", "dead")}
        rows = tuple(_function_queue(row) for row in data.get("functions") or ())
        delayed, retrying = int(data.get("delayed") or 0), int(data.get("retrying") or 0)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PyfaasError(f"the gateway sent invalid queue statistics: {exc}") from exc
    parsed = {*known, "delayed", "retrying", "functions"}
    rest = {k: v for k, v in data.items() if k not in parsed}
    return QueueSummary(**known, extra=rest, delayed=delayed, retrying=retrying, functions=rows)


def _function_queue(row: Mapping[str, Any]) -> FunctionQueue:
    return FunctionQueue(
        function=str(row["function"]),
        queued=int(row.get("queued") or 0),
        delayed=int(row.get("delayed") or 0),
        running=int(row.get("running") or 0),
        retrying=int(row.get("retrying") or 0),
        dead=int(row.get("dead") or 0),
        oldest_age=float(row.get("oldestAge") or 0.0),
        processed=int(row.get("processed") or 0),
        callback_failures=int(row.get("callbackFailures") or 0),
    )


def dead_letter_from_wire(data: Any) -> DeadLetter:
    try:
        call = call_status_from_wire(data["call"])
        raw = data.get("request")
        request = None if raw is None else _dead_request(raw)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise PyfaasError(f"the gateway sent a malformed dead letter: {exc}") from exc
    return DeadLetter(call, request)


def _dead_request(raw: Mapping[str, Any]) -> DeadRequest:
    body = base64.b64decode(raw.get("body") or "", validate=True)
    return DeadRequest(
        method=str(raw.get("method") or "POST"),
        path=str(raw.get("path") or ""),
        query=str(raw.get("query") or ""),
        headers=tuple((str(k), str(v)) for k, v in raw.get("headers") or ()),
        body=body,
        size=int(raw.get("size", len(body))),
    )
