"""The function store: ready-made functions that deploy with no registry but PyPI.

``pyfaas/store/index.json`` lists them in OpenFaaS's store format, with
OpenFaaS's store image names, so ``faas-cli store deploy figlet`` (which
sends ``ghcr.io/openfaas/figlet:latest``) works against pyfaas: the provider
calls ``ensure_image`` at deploy time and the image is built from
``pyfaas/store/<name>/``, a small project with a ``stack.yaml`` and a handler.
Images that are watchdog base images (``env`` runs ``fprocess=env`` on
``ghcr.io/openfaas/alpine``) need no build: the provider runs their
``fprocess`` on the host.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pyfaas.builder.builder import build_function
from pyfaas.errors import BadRequest, NotFound
from pyfaas.images import ImageManifest, ImageStore, is_watchdog_base, normalise, repository


@dataclass(frozen=True)
class StoreFunction:
    name: str
    title: str
    description: str
    image: str
    project: Path
    fprocess: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    read_only_root_filesystem: bool = False
    aliases: tuple[str, ...] = ()
    entry: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_wire(self) -> dict[str, Any]:
        """The entry as OpenFaaS's store JSON has it."""
        return {k: v for k, v in self.entry.items() if k != "aliases"}

    def matches(self, ref: str) -> bool:
        """True if ``ref`` names this function's image (any tag) or one of its aliases."""
        wanted = repository(ref)
        return any(
            wanted == repository(known) or wanted.endswith("/" + repository(known))
            for known in (self.image, *self.aliases)
        )


def store_root() -> Path:
    return Path(str(resources.files("pyfaas") / "store"))


def store_index() -> dict[str, Any]:
    """``index.json`` as served to ``faas-cli store list --url``."""
    data = json.loads((store_root() / "index.json").read_text())
    for entry in data.get("functions", []):
        entry.pop("aliases", None)
    return dict(data)


def list_store() -> list[StoreFunction]:
    data = json.loads((store_root() / "index.json").read_text())
    return [_function(entry) for entry in data["functions"]]


def _function(entry: dict[str, Any]) -> StoreFunction:
    return StoreFunction(
        name=entry["name"],
        title=entry.get("title", entry["name"]),
        description=entry.get("description", ""),
        image=entry["image"],
        project=store_root() / entry["name"],
        fprocess=entry.get("fprocess", ""),
        environment=dict(entry.get("environment") or {}),
        labels=dict(entry.get("labels") or {}),
        annotations=dict(entry.get("annotations") or {}),
        read_only_root_filesystem=bool(entry.get("readOnlyRootFilesystem", False)),
        aliases=tuple(entry.get("aliases") or ()),
        entry=entry,
    )


def get_store_function(name: str) -> StoreFunction:
    for function in list_store():
        if function.name == name:
            return function
    known = ", ".join(f.name for f in list_store())
    raise NotFound(f"store function {name!r} not found; the store has: {known}")


def find_by_image(ref: str) -> StoreFunction | None:
    """The store function whose image ``ref`` names, if any."""
    for function in list_store():
        if function.matches(ref):
            return function
    return None


def ensure_image(
    ref: str, store: ImageStore, progress: Callable[[str], None] = lambda _: None
) -> ImageManifest | None:
    """The manifest of ``ref``: as built, or built now from the store; None if neither.

    Blocking (it may run pip): the provider calls it in a thread. Concurrent
    callers for one reference wait for a single build.
    """
    existing = store.get(ref)
    if existing is not None:
        return existing
    function = find_by_image(ref)
    if function is None or is_watchdog_base(ref):
        return None
    with store.lock(ref):
        existing = store.get(ref)
        if existing is not None:
            return existing
        return build_store_function(function, normalise(ref), store, progress)


def build_store_function(
    function: StoreFunction,
    image: str,
    store: ImageStore,
    progress: Callable[[str], None] = lambda _: None,
) -> ImageManifest:
    """Build ``function``'s project as ``image`` (in a scratch project directory)."""
    spec = _stack_entry(function)
    handler = (function.project / str(spec.get("handler", f"./{function.name}"))).resolve()
    with tempfile.TemporaryDirectory(prefix=f"pyfaas-store-{function.name}-") as scratch:
        return build_function(
            function.name,
            str(spec["lang"]),
            handler,
            image,
            Path(scratch),
            store,
            fprocess=spec.get("fprocess") or None,
            build_args={str(k): str(v) for k, v in (spec.get("build_args") or {}).items()},
            environment={str(k): str(v) for k, v in (spec.get("environment") or {}).items()},
            build_options=[str(o) for o in spec.get("build_options") or []],
            progress=progress,
        )


def _stack_entry(function: StoreFunction) -> dict[str, Any]:
    path = function.project / "stack.yaml"
    try:
        data = yaml.safe_load(path.read_text())
        entry = data["functions"][function.name]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise BadRequest(f"store function {function.name}: bad {path.name}: {exc}") from exc
    if not isinstance(entry, dict) or "lang" not in entry:
        raise BadRequest(f"store function {function.name}: {path.name} gives no lang")
    return entry


__all__ = [
    "StoreFunction",
    "build_store_function",
    "ensure_image",
    "find_by_image",
    "get_store_function",
    "list_store",
    "store_index",
    "store_root",
]
