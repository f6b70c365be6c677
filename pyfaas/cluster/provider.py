"""``ClusterProvider``: the ``Provider`` interface over the cluster's KV buckets.

Writes go to JetStream by compare-and-set (``store``), then straight to this
host's local provider through the reconciler, so the writing host answers
with its own replicas started and its own refusals (an image it cannot
resolve undoes the write and is the answer's 400); every other host follows
within its reconciler's sync. Reads (functions, secrets' names) come from the
host's local copy, which the reconciler keeps equal to the buckets;
invocations resolve against the local replicas (a function the cluster
defines but this host does not run yet is a 503 to try again, not a 404),
and logs are this host's.

Optimistic concurrency for clients: a function's status carries its KV
revision in the annotation ``com.pyfaas.cluster.revision``; an update that
sends that annotation back is refused with 409 if the function changed since.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats.errors
from nats.aio.client import Client
from nats.js.kv import KeyValue

import pyfaas
from pyfaas.cluster import names
from pyfaas.cluster.catchup import CatchUp
from pyfaas.cluster.heartbeat import Heartbeat, HostRecord, hosts
from pyfaas.cluster.reconciler import RESYNC, ImageSource, Reconciler
from pyfaas.cluster.replication import Replication
from pyfaas.cluster.secretbox import SecretBox
from pyfaas.cluster.store import ClusterStore, Definition, Versioned, new_definition
from pyfaas.cluster.watch import Bucket
from pyfaas.errors import BadRequest, Conflict, NotFound, PyfaasError, ServiceUnavailable
from pyfaas.providers.base import Endpoint, FunctionUsage, LogQuery, Provider
from pyfaas.scale_labels import capped, desired_replicas, min_replicas
from pyfaas.types import FunctionDeployment, FunctionStatus, LogMessage, ProviderInfo

log = logging.getLogger("pyfaas.cluster")
PROVIDER_NAME = "pyfaas-cluster"
REVISION_ANNOTATION = "com.pyfaas.cluster.revision"
SCALE_ATTEMPTS = 5
CONNECT_TIMEOUT = 5.0
# A request to JetStream: ms on a healthy cluster; while a node's loss has a bucket's stream
# electing a leader, each request made then waits this long before the next may succeed.
REQUEST_TIMEOUT = 2.0


class ClusterProvider:
    def __init__(
        self,
        local: Provider,
        servers: list[str],
        key: bytes,
        host: str,
        address: str,
        max_replicas: int | None = None,
        resync: float = RESYNC,
        heartbeat: float = 2.0,
        kv_replicas: int = 1,
        images: ImageSource | None = None,
    ) -> None:
        self._local = local
        self._images = images
        self._servers = servers
        self._box = SecretBox(key)
        self._host = host
        self._address = address
        self._max_replicas = max_replicas
        self._resync = resync
        self._heartbeat_interval = heartbeat
        self._kv_replicas = kv_replicas
        self._nc: Client | None = None
        self._store: ClusterStore | None = None
        self._reconciler: Reconciler | None = None
        self._heartbeat: Heartbeat | None = None
        self._catchup: CatchUp | None = None
        self._replication: Replication | None = None
        self._hosts_kv: KeyValue | None = None

    @property
    def local(self) -> Provider:
        return self._local

    @property
    def autoscaled(self) -> Provider:
        """What the gateway's autoscaler reads and scales: this host's replicas alone.

        The replica count and the autoscaler's decisions are per host: one
        host's load scales (or idles to zero) that host's replicas, never the
        shared definition's count, which a user's ``POST /system/scale-function``
        sets for every host. A later change of the definition brings the host
        back to its count.
        """
        return self._local

    @property
    def images(self) -> ImageSource | None:
        """The cluster's images (``cluster.images``), pulled before a definition runs."""
        return self._images

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=self._servers,
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    error_cb=_ignore,
                    reconnected_cb=self._reconnected,
                ),
                CONNECT_TIMEOUT,
            )
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            raise ServiceUnavailable(
                f"cluster servers {','.join(self._servers)} unavailable: {exc!r}"
            ) from exc
        self._nc = nc
        try:
            js = nc.jetstream(timeout=REQUEST_TIMEOUT)
            # A wrong key stops here, before any replica starts.
            self._store = await ClusterStore.open(js, self._box, self._kv_replicas)
            try:
                hosts_kv = await Heartbeat.bucket(js, replicas=self._kv_replicas)
            except (nats.errors.Error, TimeoutError) as exc:
                raise ServiceUnavailable(f"cluster bucket of hosts unavailable: {exc!r}") from exc
            await self._local.start()
            self._reconciler = Reconciler(self._store, self._local, self._resync, self._images)
            await self._reconciler.sync()
            buckets = [Bucket(js, names.FUNCTIONS_BUCKET), Bucket(js, names.SECRETS_BUCKET)]
            self._reconciler.start(*buckets)
            self._catchup = CatchUp(nc, self._reconciler)
            await self._catchup.start()
            self._heartbeat = Heartbeat(
                hosts_kv, self._host, self._describe, self._heartbeat_interval
            )
            self._hosts_kv = hosts_kv
            await self._heartbeat.beat()
            self._heartbeat.start()
            self._replication = Replication(js, self._kv_replicas)
            self._replication.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._replication is not None:
            await self._replication.stop()
            self._replication = None
        if self._heartbeat is not None:
            await self._heartbeat.stop()
            self._heartbeat = None
        if self._catchup is not None:
            await self._catchup.stop()
            self._catchup = None
        if self._reconciler is not None:
            await self._reconciler.stop()
            self._reconciler = None
            await self._local.close()
        if self._nc is not None:
            with contextlib.suppress(nats.errors.Error, OSError):
                await self._nc.close()
            self._nc = None

    async def _reconnected(self) -> None:
        # On another server now: what this host watched may have been lost on the way.
        if self._catchup is not None:
            self._catchup.trigger()

    # -- information --------------------------------------------------------------

    async def info(self) -> ProviderInfo:
        info = await self._local.info()
        return info.model_copy(update={"provider": PROVIDER_NAME})

    async def namespaces(self) -> list[str]:
        return await self._local.namespaces()

    async def hosts(self) -> list[HostRecord]:
        """The hosts whose heartbeats are current, this one among them."""
        if self._hosts_kv is None:
            raise ServiceUnavailable("the cluster provider is not started")
        return await hosts(self._hosts_kv)

    # -- functions ---------------------------------------------------------------

    async def deploy(self, request: FunctionDeployment, namespace: str) -> None:
        await self._check(request, namespace)
        request = _without_revision(request)
        replicas = desired_replicas(request.labels, self._max_replicas)
        definition = new_definition(request, namespace, replicas)
        revision = await self._kv.create_function(definition)
        try:
            await self._reconcile.apply(definition, revision)
        except BadRequest:
            # This host cannot run it (an image it cannot resolve): nor is it deployed.
            with contextlib.suppress(PyfaasError):
                await self._kv.delete_function(namespace, request.service, revision)
            await self._reconcile.remove(namespace, request.service)
            raise

    async def update(self, request: FunctionDeployment, namespace: str) -> None:
        await self._check(request, namespace)
        current = await self._current(request.service, namespace)
        last = _revision_of(request) or current.revision
        request = _without_revision(request)
        replicas = current.value.replicas
        if min_replicas(request.labels) is not None:
            replicas = desired_replicas(request.labels, self._max_replicas)
        definition = Definition(namespace, request, replicas, current.value.created_at)
        revision = await self._kv.update_function(definition, last)
        try:
            await self._reconcile.apply(definition, revision)
        except BadRequest:
            with contextlib.suppress(PyfaasError):
                await self._kv.update_function(current.value, revision)
            raise

    async def delete(self, name: str, namespace: str) -> None:
        current = await self._current(name, namespace)
        await self._kv.delete_function(namespace, name, current.revision)
        await self._reconcile.remove(namespace, name)

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        return [self._annotated(s) for s in await self._local.list_functions(namespace)]

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        return self._annotated(await self._local.get_function(name, namespace))

    async def has_function(self, name: str, namespace: str) -> bool:
        return await self._local.has_function(name, namespace)

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        if replicas < 0:
            raise BadRequest(f"replicas must be 0 or more, not {replicas}")
        # A scale names a count, not a revision: on a race, read again and retry.
        for _ in range(SCALE_ATTEMPTS):
            current = await self._current(name, namespace)
            count = capped(replicas, current.value.deployment.labels, self._max_replicas)
            definition = current.value.with_replicas(count)
            try:
                revision = await self._kv.update_function(definition, current.revision)
            except Conflict:
                continue
            await self._reconcile.apply(definition, revision)
            return
        raise Conflict(f"function {name} changed {SCALE_ATTEMPTS} times during its scale")

    async def resolve(self, name: str, namespace: str, wait: float) -> Endpoint:
        try:
            return await self._local.resolve(name, namespace, wait)
        except NotFound:
            if not await self._defined(name, namespace):
                raise
        # Defined in the cluster, not running here (yet): a definition written through
        # another host a moment ago, or one this host cannot run. A 503 the caller
        # (and the queue-worker) tries again, not a 404 that says it does not exist.
        raise ServiceUnavailable(
            f"function {name}.{namespace} is not running on this host yet: try again"
        )

    async def usage(self, name: str, namespace: str) -> FunctionUsage | None:
        """This host's replicas' use: each host measures its own."""
        return await self._local.usage(name, namespace)

    # -- secrets -----------------------------------------------------------------

    async def list_secrets(self, namespace: str) -> list[str]:
        await self._check_namespace(namespace)
        return await self._kv.secret_names(namespace)

    async def create_secret(self, name: str, namespace: str, value: bytes) -> None:
        await self._check_namespace(namespace)
        await self._kv.create_secret(namespace, name, value)
        await self._reconcile.apply_secret(namespace, name, value)

    async def update_secret(self, name: str, namespace: str, value: bytes) -> None:
        await self._check_namespace(namespace)
        last = await self._secret_revision(name, namespace)
        await self._kv.update_secret(namespace, name, value, last)
        await self._reconcile.apply_secret(namespace, name, value)

    async def delete_secret(self, name: str, namespace: str) -> None:
        await self._check_namespace(namespace)
        last = await self._secret_revision(name, namespace)
        await self._kv.delete_secret(namespace, name, last)
        await self._reconcile.apply_secret(namespace, name, None)

    # -- logs --------------------------------------------------------------------

    async def logs(self, query: LogQuery) -> AsyncIterator[LogMessage]:
        async for message in self._local.logs(query):
            yield message

    # -- internals ---------------------------------------------------------------

    @property
    def _kv(self) -> ClusterStore:
        if self._store is None:
            raise ServiceUnavailable("the cluster provider is not started")
        return self._store

    @property
    def _reconcile(self) -> Reconciler:
        if self._reconciler is None:
            raise ServiceUnavailable("the cluster provider is not started")
        return self._reconciler

    async def _current(self, name: str, namespace: str) -> Versioned[Definition]:
        found = await self._kv.get_function(namespace, name)
        if found is None:
            raise NotFound(f"function {name} not found in namespace {namespace}")
        return found

    async def _defined(self, name: str, namespace: str) -> bool:
        """Whether the cluster has a definition of the function; False when NATS cannot say."""
        try:
            return await self._kv.get_function(namespace, name) is not None
        except PyfaasError:
            return False

    async def _secret_revision(self, name: str, namespace: str) -> int:
        revision = await self._kv.secret_revision(namespace, name)
        if revision is None:
            raise NotFound(f"secret {name} not found")
        return revision

    async def _check_namespace(self, namespace: str) -> None:
        served = await self._local.namespaces()
        if namespace not in served:
            raise BadRequest(
                f"namespace {namespace} is not valid: this provider serves {', '.join(served)}"
            )

    async def _check(self, request: FunctionDeployment, namespace: str) -> None:
        await self._check_namespace(namespace)
        known = set(await self._kv.secret_names(namespace))
        missing = [s for s in request.secrets or [] if s not in known]
        if missing:
            raise BadRequest(f"unable to find secret: {', '.join(missing)}")

    def _annotated(self, status: FunctionStatus) -> FunctionStatus:
        revision = self._reconcile.revision(status.namespace or "", status.name)
        if revision is None:
            return status
        annotations = {**(status.annotations or {}), REVISION_ANNOTATION: str(revision)}
        return status.model_copy(update={"annotations": annotations})

    async def _describe(self) -> HostRecord:
        replicas: dict[str, int] = {}
        for namespace in await self._local.namespaces():
            for status in await self._local.list_functions(namespace):
                replicas[f"{status.name}.{namespace}"] = status.available_replicas or 0
        return HostRecord(
            name=self._host,
            address=self._address,
            version=pyfaas.__version__,
            last_heartbeat=datetime.now(UTC).isoformat(),
            replicas=replicas,
        )


def _revision_of(request: FunctionDeployment) -> int | None:
    text = (request.annotations or {}).get(REVISION_ANNOTATION)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"annotation {REVISION_ANNOTATION} is not a revision: {text!r}") from None


def _without_revision(request: FunctionDeployment) -> FunctionDeployment:
    annotations = dict(request.annotations or {})
    if annotations.pop(REVISION_ANNOTATION, None) is None:
        return request
    return request.model_copy(update={"annotations": annotations})


async def _ignore(exc: Exception) -> None:
    """nats-py reports reconnects through this; the reconciler's sync says what matters."""
