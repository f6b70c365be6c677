"""``pyfaas new``: a function folder and its stack file from a template.

The template is ``./template/<lang>`` (pulled with ``pyfaas template pull``, or
copied there earlier), else one of pyfaas's own, copied there first.

The stack file is ``<name>.yml``, as faas-cli wrote before 2025 and as the
OpenFaaS workshop's steps expect (``pyfaas up -f long-task.yml``); current
faas-cli writes ``stack.yaml`` instead, which ``--append stack.yaml`` gives.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from pyfaas.errors import BadRequest, Conflict
from pyfaas.naming import validate_name

from . import _common as common

GITIGNORE_ENTRIES = ("template", "build", ".secrets")


def stack_entry(name: str, lang: str, handler: str, image: str) -> str:
    return f"  {name}:\n    lang: {lang}\n    handler: {handler}\n    image: {image}\n"


def new_stack_text(gateway: str, entry: str) -> str:
    return f"version: 1.0\nprovider:\n  name: openfaas\n  gateway: {gateway}\nfunctions:\n{entry}"


def update_gitignore(directory: Path) -> None:
    """Add template/, build/ and .secrets to .gitignore, once each."""
    path = directory / ".gitignore"
    lines = path.read_text().splitlines() if path.exists() else []
    missing = [entry for entry in GITIGNORE_ENTRIES if entry not in lines]
    if missing:
        path.write_text("".join(line + "\n" for line in [*lines, *missing]))


def image_name(name: str, prefix: str | None) -> str:
    prefix = (prefix or "").strip().rstrip("/")
    return f"{prefix}/{name}:latest" if prefix else f"{name}:latest"


def _template_names(project: Path) -> list[str]:
    """The project's templates (pulled or copied into ./template) and pyfaas's own."""
    from pyfaas.builder.templates import available_templates, project_templates

    return sorted({*project_templates(project), *available_templates()})


def _write_stack(project: Path, name: str, entry: str, append: str | None) -> Path:
    if append:
        target = Path(append)
        if not target.exists():
            raise BadRequest(f"--append: {append} does not exist")
        text = target.read_text()
        if f"\n  {name}:" in text:
            raise Conflict(f"{append}: a function named {name} is already there")
        target.write_text(text.rstrip("\n") + "\n" + entry)
        return target
    target = project / f"{name}.yml"
    if target.exists():
        raise Conflict(f"{target.name} already exists: use --append to add {name} to it")
    target.write_text(new_stack_text(common.gateway_url(None), entry))
    return target


@click.command()
@click.argument("name", required=False)
@click.option("--lang", default=None, help="Template to use (see --list)")
@click.option("-p", "--prefix", default=None, help="Image prefix, e.g. a registry user")
@click.option("-a", "--append", default=None, help="Add the function to this stack file")
@click.option("--handler", default=None, help="Folder for the handler (default: ./NAME)")
@click.option("--list", "list_", is_flag=True, help="List the available templates")
@click.option("-q", "--quiet", is_flag=True, help="Print less")
def new(
    name: str | None,
    lang: str | None,
    prefix: str | None,
    append: str | None,
    handler: str | None,
    list_: bool,
    quiet: bool,
) -> None:
    """Create function NAME from template --lang, and its stack file NAME.yml."""
    from pyfaas.builder.templates import load_template, new_handler, project_template

    if list_:
        click.echo("Languages available as templates:")
        for template in _template_names(Path.cwd()):
            click.echo(f"- {template}")
        return
    if not name or not lang:
        raise BadRequest("give a function NAME and --lang (see `pyfaas new --list`)")
    validate_name(name)
    project = Path.cwd()
    handler_rel = handler or f"./{name}"
    handler_dir = (project / handler_rel).resolve()
    if handler_dir.exists():
        raise Conflict(f"folder {handler_rel} already exists")
    spec = load_template(project_template(lang, project))
    new_handler(name, lang, project, handler_dir)
    update_gitignore(project)
    image = image_name(name, prefix if prefix is not None else os.environ.get("OPENFAAS_PREFIX"))
    written = _write_stack(project, name, stack_entry(name, lang, handler_rel, image), append)
    if not quiet:
        click.echo(f"Folder: {handler_rel.removeprefix('./')} created.")
    click.echo(f"Function created in folder: {handler_rel.removeprefix('./')}")
    click.echo(f"Stack file written: {written.name}")
    if spec.welcome_message and not quiet:
        click.echo(spec.welcome_message.rstrip())
    if not append:
        click.echo(
            f"(faas-cli since 2025 writes stack.yaml; pyfaas writes {written.name} "
            f"as older faas-cli did: use `pyfaas up -f {written.name}`)"
        )
