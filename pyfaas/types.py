"""OpenFaaS wire types, with OpenFaaS's JSON names.

Requests are parsed strictly (a wrongly typed field is a 400 naming the
field); responses are written with Go's ``omitempty`` rules, because
``faas-cli`` and the certifier decode them with Go's ``encoding/json`` (see
the contract, §1.4 and §8): ``labels``/``annotations`` always present,
``envVars``/``limits``/``requests`` only when set, replica counts as integers,
``createdAt`` with a zone. pyfaas's own extension, a call's status
(``CallStatus``), lives in ``pyfaas.call_status`` (no pydantic, so the queue
and the worker can load it) and is re-exported here.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pyfaas.call_status import CallAttempt as CallAttempt
from pyfaas.call_status import CallState as CallState
from pyfaas.call_status import CallStatus as CallStatus
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


class FunctionUsageStatus(_Wire):
    """faas-provider's ``FunctionUsage``: ``cpu`` in millicores (faas-cli prints
    ``CPU: N Mi``), ``totalMemoryBytes`` the replicas' memory together."""

    cpu: float = 0.0
    total_memory_bytes: float = Field(default=0.0, alias="totalMemoryBytes")

    def to_wire(self) -> dict[str, float]:
        # Go's omitempty on both floats.
        out: dict[str, float] = {}
        if self.cpu:
            out["cpu"] = self.cpu
        if self.total_memory_bytes:
            out["totalMemoryBytes"] = self.total_memory_bytes
        return out


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
    usage: FunctionUsageStatus | None = None

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
        if self.usage is not None:
            out["usage"] = self.usage.to_wire()
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
