"""The provider interface: what the gateway needs from wherever functions run.

It mirrors faas-provider's handler set (deploy, update, delete, list, status,
scale, secrets, logs, info, namespaces) plus ``resolve``, which the gateway's
proxy calls on every invocation to learn where a ready replica listens. The
local provider runs replicas as supervised host processes; a Kubernetes
provider would implement the same methods.

Contracts every implementation keeps (tested by tests/contract/test_provider.py):

* ``deploy`` raises ``Conflict`` if the function exists; ``update``,
  ``delete``, ``get_function``, ``scale`` raise ``NotFound`` if it does not.
* Metadata is readable from ``get_function``/``list_functions`` as soon as ``deploy`` returns;
  replicas start in the background.
* ``FunctionStatus.replicas`` is the desired count; ``available_replicas``
  counts replicas that answer their health check.
* ``resolve`` returns an endpoint of an available replica, starting one if
  the function is scaled to zero and waiting up to ``wait`` seconds;
  ``NotFound`` for an unknown function, ``ServiceUnavailable`` on time-out.
* Secrets: ``create_secret`` raises ``Conflict`` if it exists,
  ``update_secret``/``delete_secret`` raise ``NotFound`` if it does not;
  values are never returned by ``list_secrets``.
* A function that asks for limits (``limits``/``requests``) carries the
  annotation ``com.pyfaas.limits.enforced`` (``types.LIMITS_ENFORCED_ANNOTATION``)
  in its status, saying how each limit is enforced, or that it is not.
* ``usage`` raises ``NotFound`` for an unknown function; it returns the CPU
  and memory its running replicas use now (zero with no replica), or None
  where the provider cannot measure them.
* Names arrive validated (see ``pyfaas.naming``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from pyfaas.types import FunctionDeployment, FunctionStatus, LogMessage, ProviderInfo


@dataclass(frozen=True)
class Endpoint:
    """Where one replica listens: TCP on loopback, or a Unix socket."""

    host: str = "127.0.0.1"
    port: int = 0
    unix_path: str | None = None
    replica: str = ""

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class FunctionUsage:
    """What a function's replicas use together, now.

    ``cpu`` is in cores (1.0: one core busy), averaged over the provider's
    recent samples; ``memory`` is bytes in use (the working set: resident
    memory, page cache that can be dropped left out). OpenFaaS's wire form
    gives CPU in millicores: see ``types.FunctionUsageStatus``.
    """

    cpu: float = 0.0
    memory: int = 0


@dataclass(frozen=True)
class LogQuery:
    name: str
    namespace: str
    follow: bool = False
    tail: int = -1  # <= 0 means every line
    since: datetime | None = None
    instance: str | None = None


@runtime_checkable
class ReplicaEndpoints(Protocol):
    """A provider whose replicas the gateway can reach one by one (for their metrics).

    Apart from ``Provider``: a provider without watchdogs of its own to
    scrape need not have it.
    """

    def replica_endpoints(self, name: str, namespace: str) -> list[Endpoint]:
        """Where each available replica of the function listens; empty if none."""
        ...


class Provider(Protocol):
    async def start(self) -> None:
        """Load persisted state and start the replicas it describes."""

    async def close(self) -> None:
        """Stop every replica (ordered, timed) and release resources."""

    async def info(self) -> ProviderInfo: ...

    async def namespaces(self) -> list[str]: ...

    async def deploy(self, request: FunctionDeployment, namespace: str) -> None: ...

    async def update(self, request: FunctionDeployment, namespace: str) -> None: ...

    async def delete(self, name: str, namespace: str) -> None: ...

    async def list_functions(self, namespace: str) -> list[FunctionStatus]: ...

    async def get_function(self, name: str, namespace: str) -> FunctionStatus: ...

    async def has_function(self, name: str, namespace: str) -> bool:
        """Whether the function is deployed; cheaper than ``get_function`` (no status)."""
        ...

    async def scale(self, name: str, namespace: str, replicas: int) -> None: ...

    async def resolve(self, name: str, namespace: str, wait: float) -> Endpoint: ...

    async def usage(self, name: str, namespace: str) -> FunctionUsage | None:
        """CPU and memory of the function's replicas; None if they cannot be measured."""
        ...

    async def list_secrets(self, namespace: str) -> list[str]: ...

    async def create_secret(self, name: str, namespace: str, value: bytes) -> None: ...

    async def update_secret(self, name: str, namespace: str, value: bytes) -> None: ...

    async def delete_secret(self, name: str, namespace: str) -> None: ...

    def logs(self, query: LogQuery) -> AsyncIterator[LogMessage]:
        """Existing lines (``tail``/``since``), then new ones while ``follow``."""
        ...
