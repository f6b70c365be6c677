"""``pyfaas store``: the ready-made functions shipped with pyfaas (the store index is part
of the package). Templates are ``pyfaas.cli.templates``.

A store function's image is built on its first deploy, which installs its Python
packages from PyPI. For a gateway on this machine the CLI builds it into the shared
image store itself, so the build's progress shows as it runs instead of a silent
deploy request; the gateway then finds the image built.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import click

from pyfaas.client.config import is_local

from . import _common as common
from .deploy import deploy_one, deploy_options, flags_from, spec_from_flags

if TYPE_CHECKING:
    from pyfaas.builder.store import StoreFunction


def _store_function(name: str) -> StoreFunction:
    from pyfaas.builder.store import get_store_function

    return get_store_function(name)


def _as_dict(item: StoreFunction) -> dict[str, Any]:
    return {
        "name": item.name,
        "title": item.title,
        "description": item.description,
        "image": item.image,
        "fprocess": item.fprocess,
        "environment": item.environment,
        "labels": item.labels,
        "annotations": item.annotations,
        "readOnlyRootFilesystem": item.read_only_root_filesystem,
    }


@click.group("store", cls=common.PyfaasGroup, aliases={"ls": "list", "inspect": "describe"})
def store() -> None:
    """Ready-made functions to deploy."""


@store.command("list")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
def store_list(as_json: bool) -> None:
    """List the functions in the store."""
    from pyfaas.builder.store import list_store

    items = list(list_store())
    if as_json:
        click.echo(json.dumps([_as_dict(i) for i in items], indent=2))
        return
    click.echo(f"{'FUNCTION':<20} DESCRIPTION")
    for item in items:
        click.echo(f"{item.name:<20} {item.description}")


@store.command("describe")
@click.argument("name")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
def store_describe(name: str, as_json: bool) -> None:
    """Show a store function."""
    item = _store_function(name)
    if as_json:
        click.echo(json.dumps(_as_dict(item), indent=2))
        return
    rows = [
        ("Title", item.title),
        ("Name", item.name),
        ("Description", item.description),
        ("Image", item.image),
        ("Process", item.fprocess or ""),
    ]
    for title, value in rows:
        click.echo(f"{title + ':':<13}{value}")


BUILD_TIMEOUT = 900.0  # seconds a deploy may take while the gateway builds the image
STORE_DEPLOY_EPILOG = (
    "A store function's image is built on its first deploy: its Python packages"
    " (figlet's pyfiglet, say) are installed from PyPI then, so that deploy needs the"
    " network and takes a little while; request-bin, sleep, nodeinfo and env need no"
    " package. For a gateway on this machine the build runs here, showing its progress;"
    " another gateway builds the image itself. " + common.CREDENTIALS_HELP
)


@store.command("deploy", epilog=STORE_DEPLOY_EPILOG)
@click.argument("function")
@click.option("--name", default=None, help="Deploy under this name")
@deploy_options
@common.gateway_option
def store_deploy(function: str, **kwargs: Any) -> None:
    """Deploy FUNCTION from the store, building its image first if need be."""
    flags = flags_from(kwargs)
    item = _store_function(function)
    flags.env = {**dict(item.environment or {}), **flags.env}
    flags.labels = {**dict(item.labels or {}), **flags.labels}
    flags.annotations = {**dict(item.annotations or {}), **flags.annotations}
    flags.readonly = flags.readonly or item.read_only_root_filesystem
    spec = spec_from_flags(kwargs["name"] or item.name, item.image, item.fprocess or None, flags)
    # Another gateway answers the deploy once it has built the image: give it time.
    with common.open_client(kwargs["gateway"], timeout=BUILD_TIMEOUT) as client:
        if is_local(client.base_url):
            _build_here(item)
        else:
            click.echo(
                f"{client.base_url} builds the image of {item.name} on its first deploy, which"
                " can take a minute; `pyfaas logs gateway` there shows the build.",
                err=True,
            )
        deploy_one(client, spec, flags)


def _build_here(item: StoreFunction) -> None:
    """Build ``item``'s image into this machine's image store, where the gateway on this
    machine finds it, showing the build as it goes (pip's output among it)."""
    from pyfaas.builder.store import ensure_image
    from pyfaas.images import ImageStore, is_watchdog_base
    from pyfaas.paths import StatePaths, default_home

    images = ImageStore(StatePaths(default_home(os.environ)).images)
    if is_watchdog_base(item.image) or images.get(item.image) is not None:
        return  # nothing to build: a base image runs its fprocess, a built one is kept
    try:
        with common.progress(f"Building the image of {item.name}") as update:
            manifest = ensure_image(item.image, images, update)
    except OSError as exc:
        # Another user's state directory, say: the gateway builds it instead.
        click.echo(f"Cannot build {item.name} here ({exc}); the gateway builds it.", err=True)
        return
    if manifest is not None:
        click.echo(f"Image: {manifest.image} built.", err=True)
