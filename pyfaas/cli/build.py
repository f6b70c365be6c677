"""``pyfaas build``, ``push`` and ``up``: stack functions into the local image store, deployed.

Images are directories in ``$PYFAAS_HOME/images`` (see ``pyfaas.images``).
``push`` asks the gateway whether it has each built image's archive
(``pyfaas.image_archive``, named by its sha256) and uploads it if not: a
gateway on another machine, or one with a state directory of its own, then
has it (in its cluster's object store too); a gateway reading this
machine's store has it already, and nothing is sent. ``up`` pushes between
the build and the deploy unless ``--skip-push``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from pyfaas import image_archive
from pyfaas.images import ImageStore
from pyfaas.paths import StatePaths, default_home
from pyfaas.stack import Stack, StackFunction

from . import _common as common
from .deploy import deploy_options, deploy_stack, flags_from

if TYPE_CHECKING:
    from pyfaas.client import GatewayClient


@dataclass(frozen=True)
class BuildFlags:
    """The command-line build settings shared by ``build`` and ``up``."""

    build_args: dict[str, str] = field(default_factory=dict)
    build_options: tuple[str, ...] = ()
    strict_build_options: bool = False
    quiet: bool = False


def build_flags(kwargs: dict[str, Any]) -> BuildFlags:
    return BuildFlags(
        build_args=common.parse_pairs(kwargs["build_arg"], "--build-arg"),
        build_options=tuple(kwargs["build_option"]),
        strict_build_options=kwargs["strict_build_options"],
        quiet=kwargs["quiet"],
    )


def build_stack(stack: Stack, functions: list[StackFunction], flags: BuildFlags) -> None:
    """Build each selected function that has a handler and no ``skip_build``.

    Build options are the stack's and the command line's together, as in faas-cli.
    """
    from pyfaas.builder.builder import build_function  # the builder is heavy; load it on use

    store = local_store()
    for fn in functions:
        if fn.skip_build:
            click.echo(f"Skipping build of: {fn.name}.")
            continue
        if not fn.lang or not fn.handler or not fn.image:
            raise click.ClickException(
                f"{stack.path}: functions.{fn.name}: lang, handler and image are needed to build"
            )
        click.echo(f"[0] > Building {fn.name}.")
        with common.progress(f"Building {fn.name}") as update:
            manifest = build_function(
                fn.name,
                fn.lang,
                stack.handler_dir(fn),
                fn.image,
                stack.directory,
                store,
                fprocess=fn.fprocess,
                build_args={**fn.build_args, **flags.build_args},
                environment=stack.environment(fn),
                build_options=[*fn.build_options, *flags.build_options],
                strict_build_options=flags.strict_build_options,
                progress=(lambda _line: None) if flags.quiet else update,
            )
        click.echo(f"Image: {manifest.image} built.")
        for note in manifest.notes:
            click.echo(f"  note: {note}", err=True)
    click.echo("[0] Worker done.")


def local_store() -> ImageStore:
    return ImageStore(StatePaths(default_home(os.environ)).images)


def push_stack(gateway: str | None, stack: Stack, functions: list[StackFunction]) -> None:
    """Upload each selected function's built image that the gateway does not have."""
    store = local_store()
    with common.open_client(gateway, stack) as client:
        for fn in functions:
            if not fn.image or store.get(fn.image) is None:
                click.echo(
                    f"[0] > Pushing {fn.name} [{fn.image}]: not in the local image store"
                    " (a base or store image, or not built here): nothing to push."
                )
                continue
            push_image(client, store, fn.name, fn.image)
    click.echo("[0] Worker done.")


def push_image(client: GatewayClient, store: ImageStore, name: str, image: str) -> None:
    known = image_archive.recorded(store, image)
    if known is not None and client.has_image(known[0], image):
        click.echo(f"[0] > Pushing {name} [{image}]: {client.base_url} has it ({known[0][:19]}).")
        return
    with common.progress(f"Packing {image}"):
        packed = image_archive.pack(store, image, store.root)
    try:
        if client.has_image(packed.digest, image):
            click.echo(f"[0] > Pushing {name} [{image}]: {client.base_url} has it.")
            return
        click.echo(f"[0] > Pushing {name} [{image}] to {client.base_url}: {_size(packed.size)}.")
        with common.progress(f"Uploading {image}") as update:
            client.push_image(image, packed.path, packed.digest, _shown(update))
        click.echo(f"Image: {image} pushed ({packed.digest[:19]}).")
    finally:
        packed.path.unlink(missing_ok=True)


def _shown(update: Callable[[str], None]) -> Callable[[int, int], None]:
    """Bytes sent of the total: every chunk on a terminal, every 10% as lines elsewhere."""
    terminal = common.stderr().is_terminal
    last = [-1]

    def report(sent: int, total: int) -> None:
        tenth = sent * 10 // max(total, 1)
        if terminal or tenth != last[0]:
            last[0] = tenth
            update(f"{_size(sent)} / {_size(total)} ({sent * 100 // max(total, 1)}%)")

    return report


def _size(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB" if count >= 1 << 20 else f"{count / 1024:.1f} KiB"


def _build_options(func: Any) -> Any:
    options = [
        click.option(
            "-b", "--build-arg", multiple=True, help="Build argument KEY=VALUE (repeatable)"
        ),
        click.option(
            "-o",
            "--build-option",
            multiple=True,
            help="Build option of the template, e.g. dev (repeatable; added to the stack's)",
        ),
        click.option(
            "--strict-build-options",
            is_flag=True,
            help="Fail when a build option asks for OS packages (pyfaas cannot install them)",
        ),
        click.option("-q", "--quiet", is_flag=True, help="Hide the build's output"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@_build_options
@common.stack_options
def build(**kwargs: Any) -> None:
    """Build the stack's functions into the local image store."""
    flags = build_flags(kwargs)
    stack = common.require_stack(kwargs["yaml_file"], envsubst=kwargs["envsubst"])
    functions = common.selected(stack, kwargs["filter_"], kwargs["regex"])
    build_stack(stack, functions, flags)


@click.command(epilog=common.CREDENTIALS_HELP)
@common.gateway_option
@common.stack_options
def push(
    gateway: str | None,
    yaml_file: str | None,
    envsubst: bool,
    filter_: str | None,
    regex: str | None,
) -> None:
    """Upload the stack's built images to the gateway, unless it has them already."""
    stack = common.require_stack(yaml_file, envsubst=envsubst)
    push_stack(gateway, stack, common.selected(stack, filter_, regex))


@click.command(epilog=common.CREDENTIALS_HELP)
@click.option("--skip-push", is_flag=True, help="Do not upload the built images to the gateway")
@click.option("--skip-deploy", is_flag=True, help="Build (and push) only")
@_build_options
@deploy_options
@common.gateway_option
@common.stack_options
def up(**kwargs: Any) -> None:
    """Build, push and deploy the stack's functions."""
    flags = flags_from(kwargs)
    stack = common.require_stack(kwargs["yaml_file"], envsubst=kwargs["envsubst"])
    functions = common.selected(stack, kwargs["filter_"], kwargs["regex"])
    build_stack(stack, functions, build_flags(kwargs))
    if not kwargs["skip_push"]:
        push_stack(kwargs["gateway"], stack, functions)
    if not kwargs["skip_deploy"]:
        deploy_stack(kwargs["gateway"], stack, functions, flags)
