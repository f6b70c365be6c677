"""Brings this host's replicas to the cluster's definitions, and its secrets to the bucket's.

The wrapped local provider is the host's copy of the shared state: the
reconciler deploys, updates, scales and deletes there what the functions
bucket says, and writes the opened secrets there, so replicas read their
secrets as on one machine. Each change the buckets' watchers deliver is
applied alone, in revision order (one this host already applied, its own
write, is skipped); a full sync runs at start and every ``interval`` seconds
besides, for what a watcher lost while NATS was away missed, and removes
what the buckets no longer hold.

Per host: the definition's ``replicas`` is the count each host runs. A scale
from zero on one host (a call arriving there) wakes that host's replicas only.

Images pushed to the cluster (``images``) are pulled before a definition is
applied, and a definition whose image reference names another digest than
the one its replicas run is applied as an update (the replicas restart on the
new image) even when the deployment is the same: ``pyfaas up`` of a rebuilt
image under the same tag rolls out to every host with the deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import nats.errors
from nats.js.kv import KeyValue

from pyfaas._tasks import stop as stop_task
from pyfaas.cluster.names import CHECK_KEY, split_key
from pyfaas.cluster.secretbox import WrongKey
from pyfaas.cluster.store import ClusterStore, Definition
from pyfaas.cluster.watch import Bucket, BucketWatcher
from pyfaas.errors import NotFound, PyfaasError
from pyfaas.providers.base import Provider
from pyfaas.types import FunctionDeployment

log = logging.getLogger("pyfaas.cluster")
Key = tuple[str, str]  # (namespace, name)
# Changes arrive through the watchers at once; the full read catches what a lost one missed.
RESYNC = 10.0


class ImageSource(Protocol):
    async def pull(self, ref: str) -> str | None:
        """Bring this host's copy of ``ref`` to the cluster's; its digest, None if not pushed.

        Raises ``BadRequest`` when the image cannot be had (noted, tried again).
        """


@dataclass(frozen=True)
class _Applied:
    revision: int
    deployment: FunctionDeployment
    # The digest of the pushed image the replicas run; None: not a pushed image.
    digest: str | None = None


class Reconciler:
    def __init__(
        self,
        store: ClusterStore,
        local: Provider,
        interval: float = RESYNC,
        images: ImageSource | None = None,
    ) -> None:
        self._store = store
        self._local = local
        self._images = images
        self._interval = interval
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._functions: dict[Key, _Applied] = {}
        self._secrets: dict[Key, int] = {}
        # A revision this host could not run (an image it cannot resolve, say), and why.
        self._failed: dict[Key, tuple[int, str]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, functions: Bucket, secrets: Bucket) -> None:
        self._tasks = [
            asyncio.create_task(self._run()),
            asyncio.create_task(self._watch(functions, self._on_function)),
            asyncio.create_task(self._watch(secrets, self._on_secret)),
        ]

    async def stop(self) -> None:
        await cancel(self._tasks)
        self._tasks = []

    def revision(self, namespace: str, name: str) -> int | None:
        """The revision of the function's definition this host runs, if any."""
        applied = self._functions.get((namespace, name))
        return None if applied is None else applied.revision

    def poke(self) -> None:
        self._wake.set()

    async def sync(self) -> None:
        """Make the local provider match the buckets, once."""
        async with self._lock:
            namespaces = await self._local.namespaces()
            wanted = await self._sync_secrets(namespaces)
            if wanted is None:
                return
            definitions = {
                (d.value.namespace, d.value.name): d
                for d in await self._store.functions()
                if d.value.namespace in namespaces
            }
            for key, entry in definitions.items():
                try:
                    await self._apply(key, entry.value, entry.revision)
                except PyfaasError as exc:
                    self._note_failure(key, entry.revision, exc)
            for ns in namespaces:
                for status in await self._local.list_functions(ns):
                    if (ns, status.name) not in definitions and await self._gone(ns, status.name):
                        await self._remove((ns, status.name))
                for name in await self._local.list_secrets(ns):
                    if (ns, name) not in wanted:
                        with contextlib.suppress(NotFound):
                            await self._local.delete_secret(name, ns)
                        self._secrets.pop((ns, name), None)

    async def _gone(self, namespace: str, name: str) -> bool:
        """Whether the bucket's leader has no definition of a function this host runs.

        Asked before a full sync removes one: a listing that lacks a function
        must not stop its replicas (and answer its calls 404) unless the
        definition is really gone.
        """
        return await self._store.get_function(namespace, name) is None

    async def _sync_secrets(self, namespaces: list[str]) -> dict[Key, tuple[bytes, int]] | None:
        """Write every secret of the bucket here; None if they do not open with this key."""
        try:
            opened = await self._store.secrets()
        except WrongKey as exc:
            log.error("secrets not applied: %s", exc)
            return None
        wanted = {
            (ns, name): (value, entry.revision)
            for entry in opened
            for ns, name, value in [entry.value]
            if ns in namespaces
        }
        # Secrets before functions: a deploy checks that its secrets exist.
        for (ns, name), (value, revision) in wanted.items():
            await self._put_secret(ns, name, value, revision)
        return wanted

    async def _put_secret(self, namespace: str, name: str, value: bytes, revision: int) -> None:
        if name not in await self._local.list_secrets(namespace):
            await self._local.create_secret(name, namespace, value)
        elif self._secrets.get((namespace, name)) != revision:
            await self._local.update_secret(name, namespace, value)
        self._secrets[(namespace, name)] = revision

    async def apply(self, definition: Definition, revision: int) -> None:
        """Run ``definition`` here now; raises what the local provider refuses it with."""
        async with self._lock:
            await self._apply((definition.namespace, definition.name), definition, revision)

    async def remove(self, namespace: str, name: str) -> None:
        async with self._lock:
            await self._remove((namespace, name))

    async def apply_secret(self, namespace: str, name: str, value: bytes | None) -> None:
        """Write (or, for None, delete) one secret here now, after a write of this host."""
        async with self._lock:
            have = name in await self._local.list_secrets(namespace)
            if value is None:
                if have:
                    await self._local.delete_secret(name, namespace)
                self._secrets.pop((namespace, name), None)
            elif have:
                await self._local.update_secret(name, namespace, value)
            else:
                await self._local.create_secret(name, namespace, value)

    async def _apply(self, key: Key, definition: Definition, revision: int) -> None:
        applied = self._functions.get(key)
        if applied is not None and applied.revision == revision:
            return
        namespace, name = key
        have = set(await self._local.list_secrets(namespace))
        if any(secret not in have for secret in definition.deployment.secrets or []):
            # A secret made through another host a moment ago: fetch it before the deploy.
            await self._sync_secrets([namespace])
        digest = None
        if self._images is not None:
            digest = await self._images.pull(definition.deployment.image)
        if not await self._local.has_function(name, namespace):
            await self._local.deploy(definition.deployment, namespace)
        elif (
            applied is None
            or applied.deployment != definition.deployment
            or applied.digest != digest
        ):
            await self._local.update(definition.deployment, namespace)
        # Only the count changed (a scale): the running replicas stay.
        await self._local.scale(name, namespace, definition.replicas)
        self._failed.pop(key, None)
        self._functions[key] = _Applied(revision, definition.deployment, digest)

    async def _remove(self, key: Key) -> None:
        self._functions.pop(key, None)
        self._failed.pop(key, None)
        with contextlib.suppress(NotFound):
            await self._local.delete(key[1], key[0])

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync()
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("cluster state unavailable, keeping what runs: %r", exc)
            except PyfaasError as exc:
                log.warning("sync incomplete: %s", exc)
            except Exception:  # a bug must not end the host's following of the cluster
                log.exception("sync failed")

    async def _watch(
        self, bucket: Bucket, handle: Callable[[KeyValue.Entry], Awaitable[None]]
    ) -> None:
        """Apply each change as the bucket's watcher delivers it (its first values too)."""
        while True:
            try:
                watcher = await bucket.watch()
                try:
                    await self._follow(watcher, handle)
                finally:  # stopped with the reconciler: its consumer goes
                    with contextlib.suppress(Exception):
                        await watcher.stop()
            except (nats.errors.Error, TimeoutError) as exc:
                log.debug("watcher not made, the periodic sync covers it meanwhile: %r", exc)
                self.poke()
                await asyncio.sleep(1.0)

    async def _follow(
        self, watcher: BucketWatcher, handle: Callable[[KeyValue.Entry], Awaitable[None]]
    ) -> None:
        while True:
            entry = await watcher.updates()
            try:
                await handle(entry)
            except PyfaasError as exc:
                log.warning("change to %s not applied: %s", entry.key, exc)
            except Exception:  # the next full sync tries it again
                log.exception("change to %s not applied", entry.key)

    async def _on_function(self, entry: KeyValue.Entry) -> None:
        namespace, name = split_key(entry.key)
        key, revision = (namespace, name), entry.revision or 0
        if namespace not in await self._local.namespaces():
            return
        async with self._lock:
            applied = self._functions.get(key)
            # A change this host already applied (its own write), or an older one.
            if applied is not None and applied.revision >= revision:
                return
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                await self._remove(key)
                return
            try:
                await self._apply(key, Definition.decode(entry.value), revision)
            except PyfaasError as exc:
                self._note_failure(key, revision, exc)

    async def _on_secret(self, entry: KeyValue.Entry) -> None:
        if entry.key == CHECK_KEY:
            return
        namespace, name = split_key(entry.key)
        key, revision = (namespace, name), entry.revision or 0
        if namespace not in await self._local.namespaces():
            return
        async with self._lock:
            if self._secrets.get(key, 0) >= revision:
                return
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                with contextlib.suppress(NotFound):
                    await self._local.delete_secret(name, namespace)
                self._secrets.pop(key, None)
                return
            try:
                value = self._store.open_secret(entry.key, entry.value)
            except WrongKey as exc:
                log.error("secret not applied: %s", exc)
                return
            await self._put_secret(namespace, name, value, revision)

    def _note_failure(self, key: Key, revision: int, exc: PyfaasError) -> None:
        # Tried again at every sync (an image may be built here later); said once
        # per revision and reason.
        if self._failed.get(key) != (revision, str(exc)):
            self._failed[key] = (revision, str(exc))
            log.warning("function %s.%s not run on this host: %s", key[1], key[0], exc)


async def cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for their end, even one that swallows a cancel."""
    for task in tasks:
        await stop_task(task)
