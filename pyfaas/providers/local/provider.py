"""``LocalProvider``: the ``Provider`` interface over supervised host processes.

Functions are kept in memory and written through to ``provider.db``; each has
a ``FunctionSupervisor`` running its replicas. ``deploy`` returns once the
metadata is stored (replicas start in the background), and ``resolve`` is a
dict lookup plus a round-robin pick while replicas are available.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pyfaas
from pyfaas.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from pyfaas.images import ImageStore
from pyfaas.logstore import LogStore
from pyfaas.paths import SYSTEM_NAMESPACE, StatePaths
from pyfaas.providers.base import Endpoint, FunctionUsage, LogQuery
from pyfaas.providers.local.cgroups import CgroupManager
from pyfaas.providers.local.enforcement import (
    ENFORCED_ANNOTATION,
    enforcement,
    unenforced_warning,
)
from pyfaas.providers.local.images import EnsureImage, RunImage, resolve_image
from pyfaas.providers.local.limits import parse_cpu_limit, parse_memory
from pyfaas.providers.local.sandbox import Sandbox
from pyfaas.providers.local.sandbox import detect as detect_sandbox
from pyfaas.providers.local.secrets import SecretStore
from pyfaas.providers.local.settings import LocalProviderSettings
from pyfaas.providers.local.specs import spec_factory, watchdog_mode
from pyfaas.providers.local.store import FunctionRecord, FunctionStore
from pyfaas.providers.local.supervisor import FunctionSupervisor, SpecFactory
from pyfaas.providers.local.usage import ReplicaSource, UsageMeter
from pyfaas.scale_labels import capped, desired_replicas, min_replicas, wake_replicas
from pyfaas.types import FunctionDeployment, FunctionStatus, LogMessage, ProviderInfo, VersionInfo

PROVIDER_NAME = "pyfaas-local"
ORCHESTRATION = "process"
SHA = "local"
SYSTEM_COMPONENTS = ("gateway", "queue-worker")

Key = tuple[str, str]

log = logging.getLogger("pyfaas.provider")


class LocalProvider:
    def __init__(
        self,
        paths: StatePaths,
        settings: LocalProviderSettings,
        ensure_image: EnsureImage | None = None,
    ) -> None:
        self._paths = paths
        self._settings = settings
        # Builds a store function's image on demand; None: only images already
        # in the store (or watchdog base images) can be deployed.
        self._ensure_image = ensure_image
        self._images = ImageStore(paths.images)
        self._secrets = SecretStore(paths)
        self._logs = LogStore(paths, max_bytes=settings.log_max_bytes)
        self._store: FunctionStore | None = None
        self._records: dict[Key, FunctionRecord] = {}
        self._supervisors: dict[Key, FunctionSupervisor] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._sandbox: Sandbox | None = None
        self._cgroups: CgroupManager | None = None
        # How each function's limits are enforced (None: it asks for none).
        self._enforced: dict[Key, str | None] = {}
        self._meter = UsageMeter()

    @property
    def log_store(self) -> LogStore:
        return self._logs

    @property
    def sandbox(self) -> Sandbox | None:
        """How replicas are sandboxed; None when they run unsandboxed."""
        return self._sandbox

    @property
    def cgroups(self) -> CgroupManager | None:
        """The writable cgroup controllers replicas are limited by, if any."""
        return self._cgroups

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        # ``required`` without a working bubblewrap raises here, before anything runs.
        self._sandbox = detect_sandbox(
            self._settings.sandbox, self._paths.home, bwrap=self._settings.bwrap
        )
        if self._settings.cgroups:
            self._cgroups = await asyncio.to_thread(CgroupManager.detect)
        warning = unenforced_warning(self._controllers, wanted=self._settings.cgroups)
        if warning is not None:
            log.warning("%s", warning)
        self._paths.ensure()
        # Scratch directories of a previous run belong to replicas that are gone.
        for stale in self._paths.replicas.iterdir():
            shutil.rmtree(stale, ignore_errors=True)
        self._store = FunctionStore(self._paths.provider_db)
        for record in self._store.load():
            key = (record.namespace, record.name)
            self._records[key] = record
            try:
                run = await self._resolve(record.deployment)
            except BadRequest as exc:
                self._logs.append(record.namespace, record.name, "provider", str(exc))
                continue
            self._supervise(record, run)

    async def close(self) -> None:
        supervisors = list(self._supervisors.values())
        self._supervisors.clear()
        await asyncio.gather(*(s.close() for s in supervisors), *self._closing)
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._cgroups is not None:
            self._cgroups.close()
            self._cgroups = None
        self._logs.close()

    # -- information --------------------------------------------------------------

    async def info(self) -> ProviderInfo:
        return ProviderInfo(
            provider=PROVIDER_NAME,
            orchestration=ORCHESTRATION,
            version=VersionInfo(release=pyfaas.__version__, sha=SHA),
        )

    async def namespaces(self) -> list[str]:
        return [self._settings.default_namespace]

    # -- functions ---------------------------------------------------------------

    async def deploy(self, request: FunctionDeployment, namespace: str) -> None:
        self._check_namespace(namespace)
        key = (namespace, request.service)
        if key in self._records:
            raise _exists(request.service)
        request = self._checked(request, namespace)
        run = await self._resolve(request)
        record = FunctionRecord(
            name=request.service,
            namespace=namespace,
            deployment=request,
            replicas=desired_replicas(request.labels, self._settings.max_replicas),
            created_at=datetime.now(UTC),
        )
        if key in self._records:  # deployed while the image was resolving
            raise _exists(request.service)
        self._db.insert(record)
        self._records[key] = record
        self._supervise(record, run)

    async def update(self, request: FunctionDeployment, namespace: str) -> None:
        self._check_namespace(namespace)
        old = self._record(request.service, namespace)
        request = self._checked(request, namespace)
        run = await self._resolve(request)
        replicas = old.replicas
        if min_replicas(request.labels) is not None:
            replicas = desired_replicas(request.labels, self._settings.max_replicas)
        record = FunctionRecord(
            name=old.name,
            namespace=namespace,
            deployment=request,
            replicas=replicas,
            created_at=old.created_at,
        )
        self._db.save(record)
        self._records[(namespace, old.name)] = record
        supervisor = self._supervisors.get((namespace, old.name))
        if supervisor is None:
            self._supervise(record, run)
        else:
            self._note_enforcement(record, run)
            supervisor.redeploy(self._spec_factory(record, run), record.replicas)

    async def delete(self, name: str, namespace: str) -> None:
        self._record(name, namespace)
        self._db.delete(namespace, name)
        del self._records[(namespace, name)]
        self._enforced.pop((namespace, name), None)
        # A function deployed later under this name starts with no files of this one.
        shutil.rmtree(self._paths.function_data(namespace, name), ignore_errors=True)
        supervisor = self._supervisors.pop((namespace, name), None)
        if supervisor is not None:
            # Replicas drain in the background; close() waits for them.
            task = asyncio.create_task(supervisor.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        return [
            self._status(record)
            for (ns, _), record in sorted(self._records.items())
            if ns == namespace
        ]

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        return self._status(self._record(name, namespace))

    async def has_function(self, name: str, namespace: str) -> bool:
        return (namespace, name) in self._records

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        record = self._record(name, namespace)
        if replicas < 0:
            raise BadRequest(f"replicas must be 0 or more, not {replicas}")
        replicas = capped(replicas, record.deployment.labels, self._settings.max_replicas)
        self._set_replicas(record, replicas)

    async def resolve(self, name: str, namespace: str, wait: float) -> Endpoint:
        supervisor = self._supervisors.get((namespace, name))
        if supervisor is not None:
            endpoint = supervisor.pick()
            if endpoint is not None:
                return endpoint
        record = self._records.get((namespace, name))
        if record is None:
            raise NotFound(f"function {name}.{namespace} not found")
        if supervisor is None:
            raise ServiceUnavailable(f"function {name}.{namespace} cannot run: see its logs")
        if record.replicas == 0:
            # Scale from zero: the call waits for a replica instead of failing.
            self._set_replicas(record, wake_replicas(record.deployment.labels))
        endpoint = await supervisor.wait_available(wait)
        if endpoint is None:
            raise ServiceUnavailable(
                f"no replica of {name}.{namespace} became available within {wait:g}s"
            )
        return endpoint

    async def usage(self, name: str, namespace: str) -> FunctionUsage | None:
        self._record(name, namespace)
        supervisor = self._supervisors.get((namespace, name))
        replicas = supervisor.replicas() if supervisor is not None else []
        sources = [ReplicaSource(r.id, r.pid, r.cgroup) for r in replicas if r.pid is not None]
        usage = await self._meter.measure(sources)
        self._meter.forget(r.id for s in self._supervisors.values() for r in s.replicas())
        return usage

    def replica_endpoints(self, name: str, namespace: str) -> list[Endpoint]:
        supervisor = self._supervisors.get((namespace, name))
        if supervisor is None:
            return []
        return [r.endpoint for r in supervisor.replicas() if r.available]

    # -- secrets -----------------------------------------------------------------

    async def list_secrets(self, namespace: str) -> list[str]:
        self._check_namespace(namespace)
        return self._secrets.names(namespace)

    async def create_secret(self, name: str, namespace: str, value: bytes) -> None:
        self._check_namespace(namespace)
        self._secrets.create(name, namespace, value)

    async def update_secret(self, name: str, namespace: str, value: bytes) -> None:
        self._check_namespace(namespace)
        self._secrets.update(name, namespace, value)
        # As with a mounted Kubernetes secret, running replicas see the new value.
        for (ns, fn), record in self._records.items():
            supervisor = self._supervisors.get((ns, fn))
            if ns == namespace and supervisor and name in (record.deployment.secrets or []):
                for replica in supervisor.replicas():
                    spec = replica.spec
                    self._secrets.copy_to([name], namespace, spec.secrets_dir, spec.run_as)

    async def delete_secret(self, name: str, namespace: str) -> None:
        self._check_namespace(namespace)
        self._secrets.delete(name, namespace)

    # -- logs --------------------------------------------------------------------

    async def logs(self, query: LogQuery) -> AsyncIterator[LogMessage]:
        namespace = query.namespace
        known = (namespace, query.name) in self._records
        if not known and query.name in SYSTEM_COMPONENTS:
            namespace, known = SYSTEM_NAMESPACE, True
        if not known and not self._logs.exists(namespace, query.name):
            raise NotFound(f"function {query.name}.{query.namespace} not found")
        args = (namespace, query.name, query.tail, query.since, query.instance)
        if not query.follow:
            for message in self._logs.read(*args):
                yield message
            return
        async for message in self._logs.follow(*args):
            yield message

    # -- internals ---------------------------------------------------------------

    @property
    def _db(self) -> FunctionStore:
        if self._store is None:
            raise ServiceUnavailable("the local provider is not started")
        return self._store

    def _record(self, name: str, namespace: str) -> FunctionRecord:
        record = self._records.get((namespace, name))
        if record is None:
            raise NotFound(f"function {name} not found in namespace {namespace}")
        return record

    def _status(self, record: FunctionRecord) -> FunctionStatus:
        key = (record.namespace, record.name)
        supervisor = self._supervisors.get(key)
        status = record.status(supervisor.available_count if supervisor else 0)
        enforced = self._enforced.get(key)
        if enforced is None:
            return status
        annotations = {**(status.annotations or {}), ENFORCED_ANNOTATION: enforced}
        return status.model_copy(update={"annotations": annotations})

    @property
    def _controllers(self) -> tuple[str, ...]:
        return self._cgroups.controllers if self._cgroups is not None else ()

    def _note_enforcement(self, record: FunctionRecord, run: RunImage) -> None:
        """Work out how the function's limits are enforced; say it in its log too."""
        deployment = record.deployment
        text = enforcement(
            deployment.limits,
            self._controllers,
            watchdog_mode(record, run),
            self._settings.replica_pids,
        )
        self._enforced[(record.namespace, record.name)] = text
        if text is not None:
            self._logs.append(record.namespace, record.name, "provider", f"limits: {text}")

    def _check_namespace(self, namespace: str) -> None:
        if namespace != self._settings.default_namespace:
            raise BadRequest(
                f"namespace {namespace} is not valid: this provider serves"
                f" {self._settings.default_namespace}"
            )

    def _checked(self, request: FunctionDeployment, namespace: str) -> FunctionDeployment:
        """Validate what the store would not, and add the provider's own label."""
        missing = self._secrets.missing(list(request.secrets or []), namespace)
        if missing:
            raise BadRequest(f"unable to find secret: {', '.join(missing)}")
        if request.limits is not None and request.limits.memory:
            parse_memory(request.limits.memory)
        if request.limits is not None and request.limits.cpu:
            parse_cpu_limit(request.limits.cpu)
        labels = dict(request.labels or {})
        labels["faas_function"] = request.service
        return request.model_copy(
            update={"labels": labels, "annotations": dict(request.annotations or {})}
        )

    async def _resolve(self, request: FunctionDeployment) -> RunImage:
        return await resolve_image(
            request, self._images, self._settings.watchdog_images, self._ensure_image
        )

    def _set_replicas(self, record: FunctionRecord, replicas: int) -> None:
        updated = record.with_replicas(replicas)
        self._db.save(updated)
        self._records[(record.namespace, record.name)] = updated
        supervisor = self._supervisors.get((record.namespace, record.name))
        if supervisor is not None:
            supervisor.set_desired(replicas)

    def _supervise(self, record: FunctionRecord, run: RunImage) -> None:
        self._note_enforcement(record, run)
        supervisor = FunctionSupervisor(
            record.namespace,
            record.name,
            self._spec_factory(record, run),
            record.replicas,
            self._logs,
            self._settings,
        )
        self._supervisors[(record.namespace, record.name)] = supervisor
        supervisor.start()

    def _spec_factory(self, record: FunctionRecord, run: RunImage) -> SpecFactory:
        return spec_factory(
            record, run, self._settings, self._paths, self._secrets, self._sandbox, self._cgroups
        )


def _exists(name: str) -> Conflict:
    return Conflict(f"function {name} already exists")
