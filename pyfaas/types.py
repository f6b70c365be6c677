"""OpenFaaS wire types, with OpenFaaS's JSON names.

Requests are parsed strictly (a wrongly typed field is a 400 naming the
field); responses are written with Go's ``omitempty`` rules, because
``faas-cli`` and the certifier decode them with Go's ``encoding/json`` (see
the contract, §1.4 and §8): ``labels``/``annotations`` always present,
``envVars``/``limits``/``requests`` only when set, replica counts as integers,
``createdAt`` with a zone. pyfaas's own extension, a call's status
(``CallStatus``), is written whole, nulls included.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pyfaas.errors import InvalidBody

MAX_JSON_DEPTH = 32
M = TypeVar("M", bound=BaseModel)


# A function's status may carry this annotation: how the provider enforces
# the limits the function asked for, in words (for example "memory: 64Mi
# requested, enforced by a memory cgroup of ..."). The gateway repeats it on
# the deploy answer as ``X-Pyfaas-Limits-Enforced``.
LIMITS_ENFORCED_ANNOTATION = "com.pyfaas.limits.enforced"


class _Wire(BaseModel):
    """Strict parsing, OpenFaaS aliases, unknown fields ignored (as Go does)."""

    model_config = ConfigDict(strict=True, populate_by_name=True, extra="ignore")


class FunctionResources(_Wire):
    memory: str | None = None
    cpu: str | None = None

    def to_wire(self) -> dict[str, str]:
        return {k: v for k, v in (("memory", self.memory), ("cpu", self.cpu)) if v}


class FunctionDeployment(_Wire):
    """Body of POST/PUT ``/system/functions``."""

    service: str
    image: str
    namespace: str | None = None
    env_process: str | None = Field(default=None, alias="envProcess")
    env_vars: dict[str, str] | None = Field(default=None, alias="envVars")
    constraints: list[str] | None = None
    secrets: list[str] | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    limits: FunctionResources | None = None
    requests: FunctionResources | None = None
    read_only_root_filesystem: bool = Field(default=False, alias="readOnlyRootFilesystem")

    @field_validator("image")
    @classmethod
    def _image_required(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("image is required")
        return value


class FunctionStatus(_Wire):
    """One entry of GET ``/system/functions``; also GET ``/system/function/{name}``."""

    name: str
    image: str
    namespace: str
    env_process: str | None = Field(default=None, alias="envProcess")
    env_vars: dict[str, str] | None = Field(default=None, alias="envVars")
    constraints: list[str] | None = None
    secrets: list[str] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    limits: FunctionResources | None = None
    requests: FunctionResources | None = None
    read_only_root_filesystem: bool = Field(default=False, alias="readOnlyRootFilesystem")
    invocation_count: float = Field(default=0.0, alias="invocationCount")
    replicas: int = 0
    available_replicas: int = Field(default=0, alias="availableReplicas")
    created_at: datetime = Field(
        default_factory=lambda: datetime(1, 1, 1, tzinfo=UTC), alias="createdAt"
    )

    @classmethod
    def from_deployment(
        cls,
        spec: FunctionDeployment,
        namespace: str,
        *,
        replicas: int,
        available: int,
        created_at: datetime,
    ) -> FunctionStatus:
        """A function's status as every provider reports it; labels gain ``faas_function``."""
        return cls(
            name=spec.service,
            image=spec.image,
            namespace=namespace,
            envProcess=spec.env_process,
            envVars=spec.env_vars,
            constraints=spec.constraints,
            secrets=spec.secrets,
            labels={**(spec.labels or {}), "faas_function": spec.service},
            annotations=dict(spec.annotations or {}),
            limits=spec.limits,
            requests=spec.requests,
            readOnlyRootFilesystem=spec.read_only_root_filesystem,
            replicas=replicas,
            availableReplicas=available,
            createdAt=created_at,
        )

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "image": self.image, "namespace": self.namespace}
        if self.env_process:
            out["envProcess"] = self.env_process
        if self.env_vars:
            out["envVars"] = dict(self.env_vars)
        if self.constraints:
            out["constraints"] = list(self.constraints)
        if self.secrets:
            out["secrets"] = list(self.secrets)
        out["labels"] = dict(self.labels)
        out["annotations"] = dict(self.annotations)
        if self.limits and self.limits.to_wire():
            out["limits"] = self.limits.to_wire()
        if self.requests and self.requests.to_wire():
            out["requests"] = self.requests.to_wire()
        if self.read_only_root_filesystem:
            out["readOnlyRootFilesystem"] = True
        if self.invocation_count:
            out["invocationCount"] = self.invocation_count
        if self.replicas:
            out["replicas"] = int(self.replicas)
        if self.available_replicas:
            out["availableReplicas"] = int(self.available_replicas)
        out["createdAt"] = format_time(self.created_at)
        return out


class DeleteFunctionRequest(_Wire):
    function_name: str = Field(alias="functionName")
    namespace: str | None = None


class ScaleServiceRequest(_Wire):
    service_name: str | None = Field(default=None, alias="serviceName")
    replicas: int = Field(ge=0)
    namespace: str | None = None


class Secret(_Wire):
    """A secret as sent by clients: ``value`` or base64 ``rawValue``."""

    name: str
    namespace: str | None = None
    value: str | None = None
    raw_value: str | None = Field(default=None, alias="rawValue")

    @field_validator("raw_value")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("rawValue must be standard base64") from None
        return value

    def data(self) -> bytes:
        """The secret's bytes: ``value`` if set, else the decoded ``rawValue``."""
        if self.value:
            return self.value.encode()
        if self.raw_value:
            return base64.b64decode(self.raw_value)
        return b""


class VersionInfo(_Wire):
    commit_message: str | None = None
    sha: str
    release: str

    def to_wire(self) -> dict[str, str]:
        out = {"sha": self.sha, "release": self.release}
        if self.commit_message:
            out["commit_message"] = self.commit_message
        return out


class ProviderInfo(_Wire):
    provider: str
    orchestration: str
    version: VersionInfo

    def to_wire(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "orchestration": self.orchestration,
            "version": self.version.to_wire(),
        }


class LogMessage(_Wire):
    name: str
    namespace: str
    instance: str
    timestamp: datetime
    text: str

    def to_wire(self) -> dict[str, str]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "instance": self.instance,
            "timestamp": format_time(self.timestamp, nanos=True),
            "text": self.text,
        }


class CallState(StrEnum):
    """Where an asynchronous call is, as ``GET /system/calls/{id}`` says it."""

    QUEUED = "queued"  # accepted, waiting for a worker
    RUNNING = "running"  # claimed by a worker under a lease
    RETRYING = "retrying"  # failed, waiting for its next attempt
    SUCCEEDED = "succeeded"  # function answered 2xx (callback outcome recorded apart)
    FAILED = "failed"  # function answered non-2xx and no retry is left
    DEAD = "dead"  # moved to the dead letters; can be replayed
    DELAYED = "delayed"  # accepted, not to run before its notBefore
    CANCELLED = "cancelled"  # cancelled before it ran; it never runs
    EXPIRED = "expired"  # not started by its expireAt; a dead letter


@dataclass(frozen=True)
class CallAttempt:
    """One attempt of a call: when it ran and what the function answered."""

    attempt: int
    started_at: float | None
    finished_at: float | None
    status_code: int | None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "statusCode": self.status_code,
            "error": self.error,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CallAttempt:
        return cls(
            attempt=int(data["attempt"]),
            started_at=_opt_float(data.get("startedAt")),
            finished_at=_opt_float(data.get("finishedAt")),
            status_code=_opt_int(data.get("statusCode")),
            error=data.get("error"),
        )


# A dataclass, not a pydantic model: this is a pyfaas extension (no Go
# decoder reads it), every field is written, nulls included, and the client
# reads it back as leniently as it always has.
@dataclass(frozen=True)
class CallStatus:
    """What happened to an asynchronous call: ``GET /system/calls/{id}``.

    The gateway writes it from the queue's record (the queue converts its own
    record at its boundary); the client reads it back. Times are Unix seconds.
    """

    call_id: str
    function: str
    namespace: str
    state: CallState
    attempts: int = 0
    submitted_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    status_code: int | None = None
    error: str | None = None
    callback_url: str | None = None
    callback_status: int | None = None
    callback_attempts: int = 0
    not_before: float = 0.0  # 0: none
    expire_at: float = 0.0  # 0: none
    reason: str | None = None  # why a dead letter is one
    history: tuple[CallAttempt, ...] = ()
    has_result: bool = False

    def to_wire(self) -> dict[str, Any]:
        out = self._core_wire()
        # Written only when they say something, so a plain call's JSON is as
        # it always was.
        if self.not_before:
            out["notBefore"] = self.not_before
        if self.expire_at:
            out["expireAt"] = self.expire_at
        if self.reason is not None:
            out["reason"] = self.reason
        if self.history:
            out["history"] = [a.to_wire() for a in self.history]
        if self.has_result:
            out["hasResult"] = True
        return out

    def _core_wire(self) -> dict[str, Any]:
        return {
            "callId": self.call_id,
            "function": self.function,
            "namespace": self.namespace,
            "state": self.state.value,
            "attempts": self.attempts,
            "submittedAt": self.submitted_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "statusCode": self.status_code,
            "error": self.error,
            "callbackUrl": self.callback_url,
            "callbackStatus": self.callback_status,
            "callbackAttempts": self.callback_attempts,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CallStatus:
        """The inverse of ``to_wire``; ``KeyError``, ``TypeError`` or ``ValueError`` if malformed.

        Lenient as the client always was: numbers may come as strings, an
        absent count is 0; only the three names and a known state are required.
        """
        return cls(
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
            not_before=float(data.get("notBefore") or 0.0),
            expire_at=float(data.get("expireAt") or 0.0),
            reason=data.get("reason"),
            history=tuple(CallAttempt.from_wire(a) for a in data.get("history") or ()),
            has_result=bool(data.get("hasResult", False)),
        )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def format_time(moment: datetime, *, nanos: bool = False) -> str:
    """RFC 3339 with a ``Z`` zone, as Go writes it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    # %Y does not zero-pad year 1 (Go's zero time) on every libc.
    stamp = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S")
    if nanos:
        return f"{stamp}.{moment.microsecond:06d}000Z"
    return stamp + "Z"


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def parse_body(model: type[M], body: bytes) -> M:
    """Parse a request body into ``model``; any problem is one ``InvalidBody`` line."""
    if not body.strip():
        raise InvalidBody("request body is empty: a JSON object is required")
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBody(f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # the parser gives up before _depth could say why
        raise InvalidBody(f"request body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if not isinstance(raw, dict):
        raise InvalidBody("request body must be a JSON object")
    if _depth(raw) > MAX_JSON_DEPTH:
        raise InvalidBody(f"request body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidBody(f"invalid request body: {where}: {first['msg']}") from None
