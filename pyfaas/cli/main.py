"""The ``pyfaas`` command: faas-cli's commands over ``pyfaas.client``, plus ``serve``."""

from __future__ import annotations

import click

from pyfaas import __version__

from . import auth, build, calls, deploy, functions, invoke, logs, new, secrets, store, system
from ._common import PyfaasGroup
from .queue_worker import queue_worker
from .serve import serve

_ALIASES = {"ls": "list", "rm": "remove", "delete": "remove"}


@click.group(
    cls=PyfaasGroup, aliases=_ALIASES, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "--version", prog_name="pyfaas")
def cli() -> None:
    """pyfaas: serverless functions that speak the OpenFaaS API, on one machine.

    Start the platform with `pyfaas serve`, then use the faas-cli commands:
    `pyfaas new`, `up`, `invoke`, `list`, `logs` and the rest.
    """


for command in (
    new.new,
    build.build,
    build.push,
    build.up,
    deploy.deploy,
    invoke.invoke,
    functions.list_functions,
    functions.describe,
    functions.remove,
    logs.logs,
    secrets.secret,
    store.store,
    store.template,
    auth.login,
    auth.logout,
    system.namespaces,
    system.namespace,
    system.version,
    system.ready,
    calls.calls,
    calls.dead_letters,
    queue_worker,
    serve,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="pyfaas")
