"""The ``pyfaas`` command: faas-cli's commands over ``pyfaas.client``, plus ``serve``.

Commands are imported when they run, not at start: users call ``pyfaas
invoke`` in shell loops, so the start-up of one command must not pay for the
imports of all the others (rich, httpx, pydantic, the builder).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from pyfaas import __version__

from ._common import PyfaasGroup

# command name -> (module in pyfaas.cli, attribute)
_COMMANDS: dict[str, tuple[str, str]] = {
    "new": ("new", "new"),
    "build": ("build", "build"),
    "push": ("build", "push"),
    "up": ("build", "up"),
    "deploy": ("deploy", "deploy"),
    "invoke": ("invoke", "invoke"),
    "list": ("functions", "list_functions"),
    "describe": ("functions", "describe"),
    "remove": ("functions", "remove"),
    "logs": ("logs", "logs"),
    "secret": ("secrets", "secret"),
    "store": ("store", "store"),
    "template": ("templates", "template"),
    "login": ("auth", "login"),
    "logout": ("auth", "logout"),
    "namespaces": ("system", "namespaces"),
    "namespace": ("system", "namespace"),
    "version": ("system", "version"),
    "ready": ("system", "ready"),
    "calls": ("calls", "calls"),
    "bin": ("bin", "bin_group"),
    "dead-letters": ("dead_letters", "dead_letters"),
    "queue": ("queue_stats", "queue"),
    "queue-worker": ("queue_worker", "queue_worker"),
    "serve": ("serve", "serve"),
    "hosts": ("hosts", "hosts"),
    "cluster": ("hosts", "cluster"),
}
_ALIASES = {"ls": "list", "rm": "remove", "delete": "remove"}


class LazyGroup(PyfaasGroup):
    """Imports a command's module only when that command is looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = self.aliases.get(cmd_name, cmd_name)
        if name not in _COMMANDS:
            return None
        module, attribute = _COMMANDS[name]
        # Relative to this package: a command's module is the CLI's own, and a
        # string import must not cross a boundary import-linter cannot see.
        command: Any = getattr(importlib.import_module(f".{module}", __package__), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(
    cls=LazyGroup, aliases=_ALIASES, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, "--version", prog_name="pyfaas")
def cli() -> None:
    """pyfaas: serverless functions that speak the OpenFaaS API, on one machine.

    Start the platform with `pyfaas serve`, then use the faas-cli commands:
    `pyfaas new`, `up`, `invoke`, `list`, `logs` and the rest.
    """


def main() -> None:
    cli(prog_name="pyfaas")
