"""The in-memory twin of a provider: functions and secrets in dicts.

It keeps the whole ``Provider`` contract (see ``pyfaas.providers.base``), so
the gateway's fast tests and the provider contract suite can run against it.
Nothing is executed: ``resolve`` answers with an ``Endpoint`` taken from a
mapping or a callback given to the constructor (tests point it at a real
echo server). Replicas are "available" the moment they are asked for, so a
function scaled to zero comes back instantly when resolved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyfaas.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from pyfaas.naming import DEFAULT_NAMESPACE
from pyfaas.providers.base import Endpoint, FunctionUsage, LogQuery
from pyfaas.scale_labels import capped, desired_replicas, min_replicas, wake_replicas
from pyfaas.types import (
    LIMITS_ENFORCED_ANNOTATION,
    FunctionDeployment,
    FunctionStatus,
    LogMessage,
    ProviderInfo,
    VersionInfo,
)

EndpointSource = Mapping[str, Endpoint] | Callable[[str, str], Endpoint | None]

_NOT_ENFORCED = "no limit is enforced: the memory provider runs no processes"


@dataclass
class _Function:
    spec: FunctionDeployment
    namespace: str
    created_at: datetime
    replicas: int

    def status(self) -> FunctionStatus:
        status = FunctionStatus.from_deployment(
            self.spec,
            self.namespace,
            replicas=self.replicas,
            available=self.replicas,
            created_at=self.created_at,
        )
        if not (self.spec.limits or self.spec.requests):
            return status
        # The twin runs no processes, so it enforces nothing, and says so as
        # every provider does.
        annotations = {**status.annotations, LIMITS_ENFORCED_ANNOTATION: _NOT_ENFORCED}
        return status.model_copy(update={"annotations": annotations})


@dataclass
class _LogLine:
    message: LogMessage
    seq: int


@dataclass
class _Logs:
    lines: list[_LogLine] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)


class MemoryProvider:
    """A ``Provider`` whose state lives in this object only."""

    def __init__(
        self,
        endpoints: EndpointSource | None = None,
        *,
        namespaces: tuple[str, ...] = (DEFAULT_NAMESPACE,),
    ) -> None:
        self._endpoints = endpoints
        self._namespaces = namespaces
        self._functions: dict[tuple[str, str], _Function] = {}
        self._secrets: dict[tuple[str, str], bytes] = {}
        self._logs: dict[tuple[str, str], _Logs] = {}
        self.resolve_count = 0
        # What ``usage`` answers, set by tests through ``set_usage``.
        self._usage: dict[tuple[str, str], FunctionUsage | None] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def info(self) -> ProviderInfo:
        version = VersionInfo(sha="memory", release="0.1.0")
        return ProviderInfo(provider="pyfaas-memory", orchestration="memory", version=version)

    async def namespaces(self) -> list[str]:
        return list(self._namespaces)

    def _check_namespace(self, namespace: str) -> None:
        if namespace not in self._namespaces:
            raise BadRequest(f"namespace not valid: {namespace}")

    def _get(self, name: str, namespace: str) -> _Function:
        found = self._functions.get((name, namespace))
        if found is None:
            raise NotFound(f"function {name}.{namespace} not found")
        return found

    def _check_secrets(self, request: FunctionDeployment, namespace: str) -> None:
        for secret in request.secrets or []:
            if (secret, namespace) not in self._secrets:
                raise BadRequest(f"unable to find secret: {secret}")

    async def deploy(self, request: FunctionDeployment, namespace: str) -> None:
        self._check_namespace(namespace)
        key = (request.service, namespace)
        if key in self._functions:
            raise Conflict(f"function {request.service}.{namespace} already exists")
        self._check_secrets(request, namespace)
        self._functions[key] = _Function(
            spec=request,
            namespace=namespace,
            created_at=datetime.now(UTC),
            replicas=desired_replicas(request.labels),
        )

    async def update(self, request: FunctionDeployment, namespace: str) -> None:
        self._check_namespace(namespace)
        function = self._get(request.service, namespace)
        self._check_secrets(request, namespace)
        function.spec = request
        if min_replicas(request.labels) is not None:
            function.replicas = desired_replicas(request.labels)

    async def delete(self, name: str, namespace: str) -> None:
        self._get(name, namespace)
        del self._functions[(name, namespace)]
        self._usage.pop((name, namespace), None)

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        self._check_namespace(namespace)
        return [f.status() for (_, ns), f in sorted(self._functions.items()) if ns == namespace]

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        return self._get(name, namespace).status()

    async def has_function(self, name: str, namespace: str) -> bool:
        return (name, namespace) in self._functions

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        if replicas < 0:
            raise BadRequest("replicas must not be negative")
        function = self._get(name, namespace)
        function.replicas = capped(replicas, function.spec.labels)

    async def usage(self, name: str, namespace: str) -> FunctionUsage | None:
        """What ``set_usage`` gave; nothing runs here, so zero until then."""
        self._get(name, namespace)
        return self._usage.get((name, namespace), FunctionUsage())

    def set_usage(
        self, name: str, namespace: str = DEFAULT_NAMESPACE, usage: FunctionUsage | None = None
    ) -> None:
        """Make ``usage`` answer ``usage`` for a function (None: not measurable)."""
        self._usage[(name, namespace)] = usage

    async def resolve(self, name: str, namespace: str, wait: float) -> Endpoint:
        function = self._get(name, namespace)
        if function.replicas == 0:
            if wait <= 0:
                raise ServiceUnavailable(f"No endpoints available for: {name}.")
            function.replicas = wake_replicas(function.spec.labels)
        endpoint = self._endpoint_for(name, namespace)
        if endpoint is None:
            raise ServiceUnavailable(f"No endpoints available for: {name}.")
        self.resolve_count += 1
        return endpoint

    def _endpoint_for(self, name: str, namespace: str) -> Endpoint | None:
        source = self._endpoints
        if source is None:
            return None
        if callable(source):
            return source(name, namespace)
        return source.get(name)

    async def list_secrets(self, namespace: str) -> list[str]:
        self._check_namespace(namespace)
        return sorted(name for name, ns in self._secrets if ns == namespace)

    async def create_secret(self, name: str, namespace: str, value: bytes) -> None:
        self._check_namespace(namespace)
        if (name, namespace) in self._secrets:
            raise Conflict(f"secret {name} already exists")
        self._secrets[(name, namespace)] = value

    async def update_secret(self, name: str, namespace: str, value: bytes) -> None:
        if (name, namespace) not in self._secrets:
            raise NotFound(f"secret {name} not found")
        self._secrets[(name, namespace)] = value

    async def delete_secret(self, name: str, namespace: str) -> None:
        if self._secrets.pop((name, namespace), None) is None:
            raise NotFound(f"secret {name} not found")

    def secret_value(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> bytes:
        """What a function would read at ``/var/openfaas/secrets/<name>`` (for tests)."""
        return self._secrets[(name, namespace)]

    async def append_log(
        self,
        name: str,
        namespace: str,
        text: str,
        *,
        instance: str = "memory-0",
        timestamp: datetime | None = None,
    ) -> None:
        """Record one log line for a function, waking followers."""
        logs = self._logs.setdefault((name, namespace), _Logs())
        message = LogMessage(
            name=name,
            namespace=namespace,
            instance=instance,
            timestamp=timestamp or datetime.now(UTC),
            text=text,
        )
        async with logs.changed:
            logs.lines.append(_LogLine(message, len(logs.lines)))
            logs.changed.notify_all()

    async def logs(self, query: LogQuery) -> AsyncIterator[LogMessage]:
        logs = self._logs.setdefault((query.name, query.namespace), _Logs())
        existing = [line for line in logs.lines if _matches(line.message, query)]
        if query.tail > 0:
            existing = existing[-query.tail :]
        # Counted before yielding: lines appended while the caller reads the
        # existing ones are new lines, not lost ones.
        seen = len(logs.lines)
        for line in existing:
            yield line.message
        if not query.follow:
            return
        while True:
            fresh = await _wait_for_lines(logs, seen)
            seen += len(fresh)
            for line in fresh:
                if _matches(line.message, query):
                    yield line.message


async def _wait_for_lines(logs: _Logs, seen: int) -> list[_LogLine]:
    async with logs.changed:
        await logs.changed.wait_for(lambda: len(logs.lines) > seen)
        return logs.lines[seen:]


def _matches(message: LogMessage, query: LogQuery) -> bool:
    if query.instance and message.instance != query.instance:
        return False
    return not (query.since and message.timestamp < query.since)


__all__ = ["EndpointSource", "MemoryProvider"]
