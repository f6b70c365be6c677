"""``HEAD``/``PUT /system/images/sha256:<digest>`` on a real gateway with its own state dir."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import ClientSession

from pyfaas.image_archive import pack, recorded
from pyfaas.images import ImageStore
from pyfaas.paths import StatePaths
from tests.unit.gateway.conftest import AUTH, MakeClient
from tests.unit.test_image_archive import make_image


def built(tmp_path: Path) -> tuple[ImageStore, Path, str]:
    """An image in a CLI's own store, packed."""
    store = ImageStore(tmp_path / "cli" / "images")
    make_image(store)
    packed = pack(store, "hello", tmp_path)
    return store, packed.path, packed.digest


async def gateway(make_client: MakeClient, tmp_path: Path, **overrides: object) -> ClientSession:
    return await make_client(home=tmp_path / "gateway", **overrides)


async def test_head_is_404_then_200_after_the_upload(
    make_client: MakeClient, tmp_path: Path
) -> None:
    _, archive, digest = built(tmp_path)
    client = await gateway(make_client, tmp_path)
    url = f"/system/images/{digest}"
    async with client.head(url, headers=AUTH, params={"image": "hello"}) as response:
        assert response.status == 404
    body = archive.read_bytes()
    async with client.put(url, headers=AUTH, params={"image": "hello"}, data=body) as response:
        assert response.status == 201, await response.text()
        assert await response.json() == {
            "image": "hello:latest",
            "digest": digest,
            "size": len(body),
        }
    for params in ({"image": "hello"}, {"image": "docker.io/library/hello:latest"}, {}):
        async with client.head(url, headers=AUTH, params=params) as response:
            assert response.status == 200, params
    # In the gateway's own store, where its provider looks for images.
    store = ImageStore(StatePaths(tmp_path / "gateway").images)
    manifest = store.get("hello")
    assert manifest is not None
    assert manifest.python == str(store.venv_dir("hello") / "bin" / "python")
    assert recorded(store, "hello") == (digest, len(body))
    # The temporary upload is gone.
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".upload")] == []
    # Another digest as the same image: not there.
    async with client.head(f"/system/images/sha256:{'1' * 64}", headers=AUTH) as response:
        assert response.status == 404


async def test_a_body_of_another_digest_is_refused(make_client: MakeClient, tmp_path: Path) -> None:
    _, archive, _ = built(tmp_path)
    client = await gateway(make_client, tmp_path)
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    async with client.put(
        f"/system/images/{wrong}",
        headers=AUTH,
        params={"image": "hello"},
        data=archive.read_bytes(),
    ) as response:
        assert response.status == 400
        text = await response.text()
    assert text.startswith("the body's digest is sha256:")
    assert text.count("\n") <= 1
    assert ImageStore(StatePaths(tmp_path / "gateway").images).get("hello") is None


async def test_uploads_need_the_admin_login(make_client: MakeClient, tmp_path: Path) -> None:
    _, archive, digest = built(tmp_path)
    client = await gateway(make_client, tmp_path)
    url = f"/system/images/{digest}"
    async with client.head(url) as response:
        assert response.status == 401
    async with client.put(url, params={"image": "hello"}, data=archive.read_bytes()) as response:
        assert response.status == 401
    assert ImageStore(StatePaths(tmp_path / "gateway").images).get("hello") is None


async def test_an_archive_over_the_cap_is_413(make_client: MakeClient, tmp_path: Path) -> None:
    _, archive, digest = built(tmp_path)
    client = await gateway(make_client, tmp_path, max_image_size=100)
    async with client.put(
        f"/system/images/{digest}",
        headers=AUTH,
        params={"image": "hello"},
        data=archive.read_bytes(),
    ) as response:
        assert response.status == 413
        assert "PYFAAS_MAX_IMAGE_SIZE" in await response.text()

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        yield archive.read_bytes()

    async with client.put(
        f"/system/images/{digest}", headers=AUTH, params={"image": "hello"}, data=chunked()
    ) as response:
        assert response.status == 413
    assert ImageStore(StatePaths(tmp_path / "gateway").images).get("hello") is None


async def test_bad_digests_refs_and_archives_are_400(
    make_client: MakeClient, tmp_path: Path
) -> None:
    _, archive, digest = built(tmp_path)
    client = await gateway(make_client, tmp_path)
    async with client.head("/system/images/latest", headers=AUTH) as response:
        assert response.status == 400
    async with client.put(f"/system/images/{digest}", headers=AUTH, data=b"x") as response:
        assert response.status == 400
        assert "?image=REF" in await response.text()
    # The right digest, but of another image's archive.
    async with client.put(
        f"/system/images/{digest}",
        headers=AUTH,
        params={"image": "other"},
        data=archive.read_bytes(),
    ) as response:
        assert response.status == 400
        assert "is image hello:latest, not other:latest" in await response.text()
    junk = b"junk" * 100
    junk_digest = "sha256:" + hashlib.sha256(junk).hexdigest()
    async with client.put(
        f"/system/images/{junk_digest}", headers=AUTH, params={"image": "x"}, data=junk
    ) as response:
        assert response.status == 400
        assert "not an image archive" in await response.text()
