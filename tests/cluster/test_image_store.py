"""``ClusterImages`` on a real nats-server: one host publishes, another pulls; tampering refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from pyfaas.cluster.images import OBJECT_BUCKET, ClusterImages
from pyfaas.errors import BadRequest
from pyfaas.image_archive import pack, recorded
from pyfaas.images import ImageStore
from tests.helpers import NatsServer
from tests.unit.test_image_archive import make_image

pytestmark = [pytest.mark.integration, pytest.mark.nats]


@pytest.fixture
async def hosts(
    tmp_path: Path, cluster_nats: NatsServer
) -> AsyncIterator[tuple[ClusterImages, ClusterImages]]:
    a = ClusterImages([cluster_nats.url], ImageStore(tmp_path / "a" / "images"))
    b = ClusterImages([cluster_nats.url], ImageStore(tmp_path / "b" / "images"))
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def test_published_on_a_pulled_by_b_once(
    hosts: tuple[ClusterImages, ClusterImages], tmp_path: Path
) -> None:
    a, b = hosts
    laptop = ImageStore(tmp_path / "laptop")
    make_image(laptop)
    packed = pack(laptop, "hello", tmp_path)
    assert not await a.has(packed.digest, "hello:latest")
    assert await b.pull("hello") is None  # never pushed: left to the host's own resolution
    await a.add("hello:latest", packed.digest, packed.path, packed.size)
    assert await b.has(packed.digest, "hello:latest")
    assert await b.has(packed.digest, None)
    assert not await b.has(packed.digest, "other:latest")
    assert a.store.get("hello") is not None  # the uploading host unpacked it too
    assert b.store.get("hello") is None
    assert await b.pull("hello") == packed.digest
    assert recorded(b.store, "hello") == (packed.digest, packed.size)
    manifest = b.store.get("hello")
    assert manifest is not None
    assert manifest.python == str(b.store.venv_dir("hello") / "bin" / "python")
    # Held at that digest: not fetched again (the directory stays the same one).
    inode = b.store.path("hello").stat().st_ino
    assert await b.pull("hello") == packed.digest
    assert b.store.path("hello").stat().st_ino == inode


async def test_a_tampered_object_is_refused_and_nothing_unpacked(
    hosts: tuple[ClusterImages, ClusterImages], tmp_path: Path, cluster_nats: NatsServer
) -> None:
    a, b = hosts
    laptop = ImageStore(tmp_path / "laptop")
    make_image(laptop)
    packed = pack(laptop, "hello", tmp_path)
    await a.add("hello", packed.digest, packed.path, packed.size)
    # Someone with access to NATS replaces the object's bytes under its name.
    nc = Client()
    await nc.connect(cluster_nats.url)
    try:
        objects = await nc.jetstream().object_store(OBJECT_BUCKET)
        await objects.put(packed.digest, b"not the image")
    finally:
        await nc.close()
    with pytest.raises(BadRequest, match="could not be fetched from the cluster"):
        await b.pull("hello")
    assert b.store.get("hello") is None
    assert [p for p in b.store.root.iterdir() if p.name.startswith(".fetch")] == []
