"""``pyfaas build``, ``push`` and ``up``: stack functions into the local image store, deployed.

Images are directories in ``$PYFAAS_HOME/images`` (see ``pyfaas.images``),
so ``push`` has nothing to send: the gateway on this machine reads the same
store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import click

from pyfaas.images import ImageStore
from pyfaas.paths import StatePaths, default_home
from pyfaas.stack import Stack, StackFunction

from . import _common as common
from .deploy import deploy_options, deploy_stack, flags_from


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

    store = ImageStore(StatePaths(default_home(os.environ)).images)
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


def push_stack(functions: list[StackFunction]) -> None:
    for fn in functions:
        click.echo(
            f"[0] > Pushing {fn.name} [{fn.image}]: nothing to push, "
            "images live in the local image store."
        )
    click.echo("[0] Worker done.")


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


@click.command()
@common.stack_options
def push(yaml_file: str | None, envsubst: bool, filter_: str | None, regex: str | None) -> None:
    """Do nothing: images already live in the local image store the gateway reads."""
    stack = common.require_stack(yaml_file, envsubst=envsubst)
    push_stack(common.selected(stack, filter_, regex))


@click.command(epilog=common.CREDENTIALS_HELP)
@click.option("--skip-push", is_flag=True, help="Do not push (pushing is a no-op anyway)")
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
        push_stack(functions)
    if not kwargs["skip_deploy"]:
        deploy_stack(kwargs["gateway"], stack, functions, flags)
