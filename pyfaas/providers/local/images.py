"""Which runtime a deployment's ``image`` names, and how to run it.

Three kinds of image can run here:

* an image ``pyfaas build`` put in the image store: its manifest says the
  watchdog mode, ``fprocess``, environment, working directory and venv;
* an OpenFaaS watchdog base image (``functions/alpine`` and the like, see
  ``PYFAAS_WATCHDOG_IMAGES``) with an ``envProcess``: ``fprocess`` runs as a
  host command in classic mode;
* the image of a ready-made store function, built on demand.

Anything else cannot run without a container engine and is refused with a 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyfaas.errors import BadRequest
from pyfaas.images import ImageManifest, ImageStore, is_watchdog_base
from pyfaas.types import FunctionDeployment


@dataclass(frozen=True)
class RunImage:
    """How to start a replica of one deployment's image."""

    mode: str
    fprocess: str | None
    # The image's ENV (watchdog settings included); the deployment's envVars override it.
    env: dict[str, str] = field(default_factory=dict)
    # None: a host command, which gets a per-replica scratch directory instead.
    workdir: Path | None = None
    python: str | None = None
    handler: str | None = None
    venv_bin: Path | None = None
    # The image's files at their container paths (root/home/app -> /home/app).
    root: Path | None = None


# The builder's ``ensure_image``: the image of a ready-made store function,
# built into the store on demand (None when ``image`` is not one). The
# runtime does not import the builder; its composition root passes this in.
EnsureImage = Callable[[str, ImageStore], "ImageManifest | None"]


async def resolve_image(
    request: FunctionDeployment,
    store: ImageStore,
    watchdog_images: Sequence[str],
    ensure: EnsureImage | None = None,
) -> RunImage:
    """The ``RunImage`` for ``request``; ``BadRequest`` saying why if it cannot run."""
    image = request.image
    manifest = store.get(image)
    if manifest is None and is_watchdog_base(image, watchdog_images):
        return _host_command(request)
    if manifest is None and ensure is not None:
        try:
            manifest = await asyncio.to_thread(ensure, image, store)
        except Exception as exc:  # the builder's failure becomes the deployment's 400
            raise BadRequest(f"image {image} could not be built: {exc}") from exc
    if manifest is None:
        bases = ", ".join(watchdog_images)
        raise BadRequest(
            f"image {image} was not built by pyfaas build and is not a watchdog base image"
            f" ({bases}): build it with pyfaas build or pyfaas up"
        )
    return from_manifest(manifest, store, request)


def from_manifest(
    manifest: ImageManifest, store: ImageStore, request: FunctionDeployment
) -> RunImage:
    workdir = store.root_dir(manifest.image) / manifest.workdir.lstrip("/")
    python = manifest.python
    return RunImage(
        mode=manifest.mode,
        fprocess=request.env_process or manifest.fprocess,
        env=dict(manifest.env),
        workdir=workdir,
        python=python,
        handler=manifest.handler,
        venv_bin=Path(python).parent if python else None,
        root=store.root_dir(manifest.image),
    )


def _host_command(request: FunctionDeployment) -> RunImage:
    fprocess = (request.env_vars or {}).get("fprocess") or request.env_process
    if not fprocess or not fprocess.strip():
        raise BadRequest(
            f"image {request.image} is a watchdog base image and needs a command:"
            " set envProcess (fprocess) to the command to run"
        )
    return RunImage(mode="classic", fprocess=fprocess)
