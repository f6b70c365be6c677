"""Which runtime an image reference resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.errors import BadRequest
from pyfaas.images import ImageManifest, ImageStore
from pyfaas.providers.local.images import resolve_image
from pyfaas.types import FunctionDeployment
from tests.factories import deployment

BASES = ("functions/alpine", "ghcr.io/openfaas/alpine")


def request(image: str, **fields: object) -> FunctionDeployment:
    return deployment("fn", image, **fields)


def built(store: ImageStore, manifest: ImageManifest) -> None:
    staging = store.stage(manifest.image)
    (staging / "root" / "home" / "app").mkdir(parents=True)
    store.commit(staging, manifest)


@pytest.mark.parametrize(
    "image", ["functions/alpine", "docker.io/functions/alpine:latest", "ghcr.io/openfaas/alpine:3"]
)
async def test_watchdog_base_image_runs_fprocess_on_the_host(tmp_path: Path, image: str) -> None:
    run = await resolve_image(request(image, envProcess="sha512sum"), ImageStore(tmp_path), BASES)
    assert (run.mode, run.fprocess, run.workdir) == ("classic", "sha512sum", None)


async def test_fprocess_in_env_vars_wins(tmp_path: Path) -> None:
    req = request("functions/alpine", envProcess="cat", envVars={"fprocess": "env"})
    run = await resolve_image(req, ImageStore(tmp_path), BASES)
    assert run.fprocess == "env"


async def test_base_image_without_a_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="envProcess"):
        await resolve_image(request("functions/alpine"), ImageStore(tmp_path), BASES)


async def test_other_images_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as caught:
        await resolve_image(request("nginx:1.25"), ImageStore(tmp_path), BASES)
    message = caught.value.message
    assert "nginx:1.25 was not built by pyfaas build" in message
    assert "functions/alpine, ghcr.io/openfaas/alpine" in message
    assert "pyfaas up" in message


async def test_built_image_runs_from_its_manifest(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    built(
        store,
        ImageManifest(
            image="hello:latest",
            lang="python3-http",
            mode="inproc",
            env={"exec_timeout": "5s"},
            python="/images/hello/venv/bin/python",
            handler="function.handler:handle",
        ),
    )
    run = await resolve_image(request("docker.io/library/hello"), store, BASES)
    assert run.mode == "inproc"
    assert run.workdir == store.root_dir("hello:latest") / "home" / "app"
    assert run.env == {"exec_timeout": "5s"}
    assert run.handler == "function.handler:handle"
    assert run.venv_bin == Path("/images/hello/venv/bin")


async def test_store_images_are_built_on_demand(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    asked: list[str] = []

    def ensure(ref: str, images: ImageStore) -> ImageManifest | None:
        asked.append(ref)
        if ref != "ghcr.io/openfaas/figlet:latest":
            return None
        manifest = ImageManifest(image=ref, lang="dockerfile", fprocess="figlet")
        built(images, manifest)
        return manifest

    run = await resolve_image(request("ghcr.io/openfaas/figlet:latest"), store, BASES, ensure)
    assert (run.mode, run.fprocess) == ("classic", "figlet")
    with pytest.raises(BadRequest, match="not built by pyfaas build"):
        await resolve_image(request("acme/unknown"), store, BASES, ensure)
    assert asked == ["ghcr.io/openfaas/figlet:latest", "acme/unknown"]


async def test_a_failing_build_is_a_bad_request(tmp_path: Path) -> None:
    def ensure(ref: str, images: ImageStore) -> ImageManifest | None:
        raise RuntimeError("pip install failed")

    with pytest.raises(BadRequest, match="could not be built: pip install failed"):
        await resolve_image(request("ghcr.io/openfaas/figlet"), ImageStore(tmp_path), BASES, ensure)
