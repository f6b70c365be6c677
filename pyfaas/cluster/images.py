"""Built images shared by the hosts of a cluster: a JetStream object store and a tag bucket.

An uploaded image's archive (``pyfaas.image_archive``) is an object named by
its digest (``sha256:<hex>``) in the object store ``pyfaas_images``; the KV
bucket ``pyfaas_image_refs`` says which digest each image reference names now
(key: the store key of the normalised reference), as a registry's tag does.
An upload unpacks the archive here first, so an archive that is not a valid
image never reaches the other hosts.

A host needing a reference the bucket knows (``pull``) fetches the object
when its own copy is not that digest, verifies it and unpacks it into its
image store, its cache. References the bucket does not know (watchdog base
images, store functions built here) are left to the host's own resolution.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from pyfaas import image_archive
from pyfaas.errors import BadRequest, PyfaasError, ServiceUnavailable
from pyfaas.images import ImageStore, normalise

log = logging.getLogger("pyfaas.cluster")
OBJECT_BUCKET = "pyfaas_images"
REFS_BUCKET = "pyfaas_image_refs"
CONNECT_TIMEOUT = 5.0
NATS_ERRORS = (nats.errors.Error, OSError, TimeoutError)


class ClusterImages:
    """This host's view of the cluster's images, on a NATS connection of its own."""

    def __init__(
        self,
        servers: list[str],
        store: ImageStore,
        adopt: image_archive.AdoptVenv | None = None,
        replicas: int = 1,
    ) -> None:
        self._servers = servers
        self._store = store
        self._adopt = adopt
        self._replicas = replicas
        self._nc: Client | None = None
        self._objects: ObjectStore | None = None
        self._refs: KeyValue | None = None

    async def start(self) -> None:
        nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(servers=self._servers, connect_timeout=2, max_reconnect_attempts=-1),
                CONNECT_TIMEOUT,
            )
            js = nc.jetstream(timeout=CONNECT_TIMEOUT)
            self._objects = await js.create_object_store(OBJECT_BUCKET, replicas=self._replicas)
            self._refs = await js.create_key_value(bucket=REFS_BUCKET, replicas=self._replicas)
        except NATS_ERRORS as exc:
            with contextlib.suppress(*NATS_ERRORS):
                await nc.close()
            raise ServiceUnavailable(f"cluster image store unavailable: {exc!r}") from exc
        self._nc = nc

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await self._nc.close()
            self._nc = None

    @property
    def store(self) -> ImageStore:
        return self._store

    # -- the gateway's upload API ---------------------------------------------------

    async def has(self, digest: str, ref: str | None) -> bool:
        """True if the cluster holds ``digest`` (as ``ref``'s current image, if given)."""
        if ref is not None and await self.digest_of(ref) != digest:
            return False
        with _reaching():
            try:
                await self._bucket.get_info(digest)
            except nats.js.errors.ObjectNotFoundError:
                return False
        return True

    async def add(self, ref: str, digest: str, archive: Path, size: int) -> None:
        """Unpack ``archive`` here, then publish it and make ``ref`` name it."""
        await asyncio.to_thread(
            image_archive.unpack, self._store, ref, archive, digest, self._adopt
        )
        with _reaching():
            try:
                await self._bucket.get_info(digest)
            except nats.js.errors.ObjectNotFoundError:
                source = await asyncio.to_thread(archive.open, "rb")
                with source:
                    await self._bucket.put(digest, source)
            record = {"image": normalise(ref), "digest": digest, "size": size}
            await self._tags.put(ImageStore.key(ref), orjson.dumps(record))

    # -- fetching on need ---------------------------------------------------------------

    async def digest_of(self, ref: str) -> str | None:
        """The digest the cluster's ``ref`` names, None if no image was pushed as ``ref``."""
        with _reaching():
            try:
                entry = await self._tags.get(ImageStore.key(ref))
            except nats.js.errors.KeyNotFoundError:
                return None
        try:
            record = orjson.loads(entry.value or b"")
            return str(record["digest"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None

    async def pull(self, ref: str) -> str | None:
        """Make this host's copy of ``ref`` the cluster's; its digest, None if not pushed.

        A ``BadRequest`` says why the image could not be fetched: the reconciler
        notes it and tries again at its next sync.
        """
        try:
            digest = await self.digest_of(ref)
        except ServiceUnavailable as exc:
            raise BadRequest(f"image {normalise(ref)}: {exc}") from exc
        if digest is None:
            return None
        held = image_archive.recorded(self._store, ref)
        if held is not None and held[0] == digest and self._store.get(ref) is not None:
            return digest
        try:
            await self._fetch(ref, digest)
        except PyfaasError as exc:
            raise BadRequest(
                f"image {normalise(ref)} could not be fetched from the cluster: {exc}"
            ) from exc
        return digest

    async def _fetch(self, ref: str, digest: str) -> None:
        self._store.root.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".fetch-", suffix=".tar.gz", dir=self._store.root)
        path = Path(name)
        try:
            with _reaching(), os.fdopen(handle, "wb") as out:
                try:
                    await self._bucket.get(digest, writeinto=out)
                except nats.js.errors.ObjectNotFoundError:
                    raise BadRequest(f"object {digest} is not in {OBJECT_BUCKET}") from None
            await asyncio.to_thread(
                image_archive.unpack, self._store, ref, path, digest, self._adopt
            )
            log.info("Fetched image %s (%s) from the cluster", normalise(ref), digest)
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    @property
    def _bucket(self) -> ObjectStore:
        if self._objects is None:
            raise ServiceUnavailable("the cluster image store is not started")
        return self._objects

    @property
    def _tags(self) -> KeyValue:
        if self._refs is None:
            raise ServiceUnavailable("the cluster image store is not started")
        return self._refs


@contextlib.contextmanager
def _reaching() -> Iterator[None]:
    """NATS away (or too slow) is the platform's 503."""
    try:
        yield
    except nats.js.errors.ObjectNotFoundError:
        raise
    except NATS_ERRORS as exc:
        raise ServiceUnavailable(f"the cluster's images in NATS are unavailable: {exc!r}") from exc


__all__ = ["OBJECT_BUCKET", "REFS_BUCKET", "ClusterImages"]
