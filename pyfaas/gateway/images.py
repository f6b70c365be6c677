"""``/system/images/sha256:<digest>``: built images uploaded to this gateway, by digest.

``HEAD`` answers 200 if the gateway has the archive of that digest (as the
current image of ``?image=REF``, if given), else 404: a client asks first
and sends only what is missing. ``PUT ...?image=REF`` streams the archive
(``pyfaas.image_archive``) to a temporary file while hashing it, refuses a
body over ``PYFAAS_MAX_IMAGE_SIZE`` (413) or of another digest (400), then
unpacks it into this host's image store; on a cluster host also into the
cluster's object store, so every host can fetch it (``cluster.images``).
Both are ``/system`` routes, behind basic auth.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from aiohttp import web

from pyfaas import image_archive
from pyfaas.errors import BadRequest, NotFound, PayloadTooLarge
from pyfaas.gateway.state import STATE, GatewayState
from pyfaas.images import ImageStore, normalise
from pyfaas.paths import StatePaths

if TYPE_CHECKING:
    from pyfaas.cluster.images import ClusterImages

ROUTE = "/system/images/{digest}"
CHUNK = 1 << 20
MAX_REF = 255


class Registry(Protocol):
    """Where an uploaded image goes: this host's image store, or the cluster's too."""

    @property
    def store(self) -> ImageStore: ...

    async def has(self, digest: str, ref: str | None) -> bool: ...

    async def add(self, ref: str, digest: str, archive: Path, size: int) -> None: ...


class LocalImages:
    """One host: the gateway's own image store."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store

    async def has(self, digest: str, ref: str | None) -> bool:
        refs = [ref] if ref is not None else [m.image for m in self.store.list()]
        for candidate in refs:
            held = image_archive.recorded(self.store, candidate)
            if held is not None and held[0] == digest and self.store.get(candidate) is not None:
                return True
        return False

    async def add(self, ref: str, digest: str, archive: Path, size: int) -> None:
        await asyncio.to_thread(
            image_archive.unpack, self.store, ref, archive, digest, image_archive.adopt_here
        )


def add_routes(app: web.Application) -> None:
    app.router.add_route("HEAD", ROUTE, _head)
    app.router.add_put(ROUTE, _put)


def registry(state: GatewayState) -> Registry:
    # Only the cluster's provider has images of its own; looked up by name, as
    # hosts.py does, so a single-host gateway never loads the cluster's modules.
    cluster = getattr(state.provider, "images", None)
    if cluster is not None:
        return cast("ClusterImages", cluster)
    return LocalImages(ImageStore(StatePaths(state.settings.home).images))


def _digest(request: web.Request) -> str:
    return image_archive.check_digest(request.match_info["digest"])


def _ref(request: web.Request, *, required: bool) -> str | None:
    ref = request.query.get("image")
    if not ref:
        if required:
            raise BadRequest("the image query parameter is required: ?image=REF")
        return None
    if len(ref) > MAX_REF or any(c.isspace() or not c.isprintable() for c in ref):
        raise BadRequest(f"image {ref[:MAX_REF]!r} is not a valid image reference")
    return normalise(ref)


async def _head(request: web.Request) -> web.Response:
    digest = _digest(request)
    if not await registry(request.app[STATE]).has(digest, _ref(request, required=False)):
        raise NotFound(f"image {digest} not found")
    return web.Response(status=200)


async def _put(request: web.Request) -> web.Response:
    state = request.app[STATE]
    digest, ref = _digest(request), _ref(request, required=True)
    assert ref is not None
    cap = state.settings.max_image_size
    if request.content_length is not None and request.content_length > cap:
        raise PayloadTooLarge(f"image archive over {cap} bytes (PYFAAS_MAX_IMAGE_SIZE)")
    target = registry(state)
    archive, size = await _receive(request, target.store.root, digest, cap)
    try:
        await target.add(ref, digest, archive, size)
    finally:
        await asyncio.to_thread(archive.unlink, missing_ok=True)
    return web.json_response({"image": ref, "digest": digest, "size": size}, status=201)


async def _receive(
    request: web.Request, directory: Path, digest: str, cap: int
) -> tuple[Path, int]:
    """The body in a temporary file beside the store, checked against ``digest`` and ``cap``."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    handle, name = await asyncio.to_thread(
        tempfile.mkstemp, prefix=".upload-", suffix=".tar.gz", dir=directory
    )
    path, hashed, size = Path(name), hashlib.sha256(), 0
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > cap:
                    raise PayloadTooLarge(f"image archive over {cap} bytes (PYFAAS_MAX_IMAGE_SIZE)")
                hashed.update(chunk)
                await asyncio.to_thread(out.write, chunk)
        found = "sha256:" + hashed.hexdigest()
        if found != digest:
            raise BadRequest(f"the body's digest is {found}, not {digest}")
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path, size
