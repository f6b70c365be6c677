"""``pyfaas template pull`` and ``template store``: templates into ``./template/``.

``template pull [REPOSITORY[#REF]]`` clones a git repository (default
faas-cli's, ``OPENFAAS_TEMPLATE_URL`` or github.com/openfaas/templates) and
copies its ``template/`` folders; ``template store list|pull`` works on
pyfaas's own templates, or on any faas-cli ``templates.json`` given with
``--url`` or ``OPENFAAS_TEMPLATE_STORE_URL``. Templates already in
``./template/`` are kept unless ``--overwrite``. After a pull, the templates
pyfaas cannot build (they need a container engine) are named at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pyfaas.errors import PyfaasError

from . import _common as common

if TYPE_CHECKING:
    from pyfaas.builder.pull import PullResult

_OVERWRITE_HELP = "Replace templates already in ./template"
_URL_HELP = (
    "A faas-cli templates.json (URL or file) to use instead of pyfaas's own store "
    "(default: OPENFAAS_TEMPLATE_STORE_URL)"
)


@click.group("template", cls=common.PyfaasGroup)
def template() -> None:
    """Function templates: pull them from git repositories or a template store."""


@template.command("pull")
@click.argument("repository", required=False)
@click.option("--overwrite", is_flag=True, help=_OVERWRITE_HELP)
def template_pull(repository: str | None, overwrite: bool) -> None:
    """Copy the template/ folders of REPOSITORY (a git URL, URL#REF or a directory)."""
    from pyfaas.builder.pull import DEFAULT_REPOSITORY, TEMPLATE_URL_ENV, Source, pull_templates

    chosen = repository or os.environ.get(TEMPLATE_URL_ENV) or DEFAULT_REPOSITORY
    source = Source.parse(chosen)
    at = f" at {source.ref}" if source.ref else ""
    click.echo(f"Fetch templates from repository: {source.url}{at}")
    with common.progress("Pulling templates"):
        result = pull_templates(chosen, Path.cwd(), overwrite=overwrite)
    _report(result)


@template.group("store", cls=common.PyfaasGroup, aliases={"ls": "list"})
def template_store() -> None:
    """pyfaas's own templates, or a faas-cli template store given with --url."""


@template_store.command("list")
@click.option("-u", "--url", default=None, help=_URL_HELP)
def template_store_list(url: str | None) -> None:
    """List the templates of the store."""
    from pyfaas.builder.pull import STORE_URL_ENV, store_entries

    entries = store_entries(url or os.environ.get(STORE_URL_ENV) or None)
    click.echo(f"{'NAME':<16} {'LANGUAGE':<12} DESCRIPTION")
    for item in entries:
        name, language = item.get("template", ""), item.get("language", "")
        click.echo(f"{name:<16} {language:<12} {item.get('description', '')}")


@template_store.command("pull")
@click.argument("name")
@click.option("-u", "--url", default=None, help=_URL_HELP)
@click.option("--overwrite", is_flag=True, help=_OVERWRITE_HELP)
def template_store_pull(name: str, url: str | None, overwrite: bool) -> None:
    """Copy template NAME (or SOURCE/NAME) from the store into ./template."""
    from pyfaas.builder.pull import STORE_URL_ENV, pull_from_store

    store_url = url or os.environ.get(STORE_URL_ENV) or None
    with common.progress(f"Pulling {name}"):
        result = pull_from_store(name, Path.cwd(), url=store_url, overwrite=overwrite)
    _report(result)


def _report(result: PullResult) -> None:
    if result.skipped:
        click.echo(
            f"Cannot overwrite the following {len(result.skipped)} template(s): "
            f"[{' '.join(result.skipped)}] (--overwrite replaces them)"
        )
    click.echo(
        f"Wrote {len(result.written)} template(s) : [{' '.join(result.written)}] "
        f"from {result.source}"
    )
    engine = _needing_engine(result.written)
    if engine:
        click.echo(
            f"Note: {len(engine)} of them need a container engine, which pyfaas does not have, "
            f"and cannot be built: [{' '.join(engine)}] (`pyfaas new --lang NAME` says why)"
        )


def _needing_engine(names: list[str]) -> list[str]:
    from pyfaas.builder.templates import check_runnable, load_template

    refused = []
    for name in names:
        try:
            check_runnable(load_template(Path.cwd() / "template" / name))
        except PyfaasError:
            refused.append(name)
    return refused
