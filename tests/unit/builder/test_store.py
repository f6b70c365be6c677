"""The function store's index and image lookup (builds are in the integration tier)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyfaas.builder.store import (
    ensure_image,
    find_by_image,
    get_store_function,
    list_store,
    store_index,
    store_root,
)
from pyfaas.errors import NotFound
from pyfaas.images import ImageManifest, ImageStore


def test_store_has_its_functions_with_openfaas_images() -> None:
    images = {f.name: f.image for f in list_store()}
    assert images == {
        "figlet": "ghcr.io/openfaas/figlet:latest",
        "env": "ghcr.io/openfaas/alpine:latest",
        "nodeinfo": "ghcr.io/openfaas/nodeinfo:latest",
        "sleep": "ghcr.io/openfaas/sleep:latest",
        "request-bin": "ghcr.io/pyfaas/request-bin:latest",
    }
    assert get_store_function("env").fprocess == "env"


def test_index_is_in_openfaas_store_format() -> None:
    data = store_index()
    assert data["version"]
    for entry in data["functions"]:
        assert {"name", "title", "description", "image", "images", "fprocess"} <= set(entry)
        assert entry["images"]["x86_64"] == entry["image"]
        assert "aliases" not in entry
    json.dumps(data)


def test_every_store_function_has_a_project() -> None:
    for function in list_store():
        assert (store_root() / function.name / "stack.yaml").is_file()
        assert function.to_wire()["name"] == function.name


def test_unknown_store_function() -> None:
    with pytest.raises(NotFound, match="store function 'nope' not found"):
        get_store_function("nope")


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("ghcr.io/openfaas/figlet:latest", "figlet"),
        ("ghcr.io/openfaas/figlet:0.13.0", "figlet"),
        ("functions/figlet", "figlet"),
        ("docker.io/functions/nodeinfo:latest", "nodeinfo"),
        ("ghcr.io/openfaas/sleep", "sleep"),
        ("ghcr.io/openfaas/figlet-other:latest", None),
        ("alexellis/figlet:latest", None),
    ],
)
def test_find_by_image(ref: str, name: str | None) -> None:
    found = find_by_image(ref)
    assert (found.name if found else None) == name


def test_ensure_image_returns_none_for_foreign_and_base_images(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    assert ensure_image("someone/else:latest", store) is None
    # env is fprocess=env on the watchdog base image: the provider runs it directly.
    assert ensure_image("ghcr.io/openfaas/alpine:latest", store) is None
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_ensure_image_returns_an_existing_image_without_building(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    staging = store.stage("ghcr.io/openfaas/figlet:latest")
    store.commit(staging, ImageManifest(image="ghcr.io/openfaas/figlet:latest", lang="x"))
    lines: list[str] = []
    manifest = ensure_image("ghcr.io/openfaas/figlet", store, progress=lines.append)
    assert manifest is not None
    assert manifest.lang == "x"
    assert lines == []
