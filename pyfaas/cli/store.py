"""``pyfaas store``: the ready-made functions shipped with pyfaas (no network: the store
index is part of the package). Templates are ``pyfaas.cli.templates``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

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


@store.command("deploy", epilog=common.CREDENTIALS_HELP)
@click.argument("function")
@click.option("--name", default=None, help="Deploy under this name")
@deploy_options
@common.gateway_option
def store_deploy(function: str, **kwargs: Any) -> None:
    """Deploy FUNCTION from the store (its image is built on demand by the gateway)."""
    flags = flags_from(kwargs)
    item = _store_function(function)
    flags.env = {**dict(item.environment or {}), **flags.env}
    flags.labels = {**dict(item.labels or {}), **flags.labels}
    flags.annotations = {**dict(item.annotations or {}), **flags.annotations}
    flags.readonly = flags.readonly or item.read_only_root_filesystem
    spec = spec_from_flags(kwargs["name"] or item.name, item.image, item.fprocess or None, flags)
    with common.open_client(kwargs["gateway"]) as client:
        deploy_one(client, spec, flags)
