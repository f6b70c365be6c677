"""``pyfaas secret create|list|update|remove``: secrets mounted into functions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from pyfaas.errors import BadRequest, Conflict
from pyfaas.naming import validate_secret_name

from . import _common as common


def read_value(from_literal: str | None, from_file: str | None, trim: bool) -> bytes:
    """The secret's bytes from ``--from-literal``, ``--from-file`` or stdin."""
    if from_literal is not None and from_file is not None:
        raise BadRequest("--from-literal and --from-file cannot be used together")
    if from_literal is not None:
        value = from_literal.encode()
    elif from_file is not None:
        try:
            value = Path(from_file).read_bytes()
        except OSError as exc:
            raise BadRequest(f"--from-file: cannot read {from_file}: {exc.strerror}") from exc
    else:
        stdin = common.stdin_bytes()
        if stdin.isatty():
            click.echo("Reading from STDIN - hit (Control + D) to stop.", err=True)
        value = stdin.read()
    if trim:
        value = value.strip()
    if not value:
        raise BadRequest("the secret's value is empty")
    return value


@click.group(
    "secret",
    cls=common.PyfaasGroup,
    aliases={"ls": "list", "rm": "remove", "delete": "remove", "u": "update"},
)
def secret() -> None:
    """Manage secrets."""


def _value_options(func: click.decorators.FC) -> click.decorators.FC:
    func = click.option(
        "--trim/--no-trim", default=True, help="Trim surrounding whitespace (default: yes)"
    )(func)
    func = click.option("--from-file", default=None, help="Read the value from a file")(func)
    return click.option("--from-literal", default=None, help="The value itself")(func)


@secret.command("create", epilog=common.CREDENTIALS_HELP)
@click.argument("name")
@_value_options
@click.option("--replace", is_flag=True, help="Update the secret if it exists")
@common.namespace_option
@common.gateway_option
def create(
    name: str,
    from_literal: str | None,
    from_file: str | None,
    trim: bool,
    replace: bool,
    namespace: str | None,
    gateway: str | None,
) -> None:
    """Create secret NAME (value from --from-literal, --from-file or stdin)."""
    validate_secret_name(name)
    value = read_value(from_literal, from_file, trim)
    click.echo(f"Creating secret: {name}.")
    with common.open_client(gateway) as client:
        try:
            status = client.create_secret(name, value, namespace)
        except Conflict:
            if not replace:
                raise
            status = client.update_secret(name, value, namespace)
    click.echo(f"Created: {status}")


@secret.command("update", epilog=common.CREDENTIALS_HELP)
@click.argument("name")
@_value_options
@common.namespace_option
@common.gateway_option
def update(
    name: str,
    from_literal: str | None,
    from_file: str | None,
    trim: bool,
    namespace: str | None,
    gateway: str | None,
) -> None:
    """Update the value of secret NAME."""
    value = read_value(from_literal, from_file, trim)
    click.echo(f"Updating secret: {name}")
    with common.open_client(gateway) as client:
        status = client.update_secret(name, value, namespace)
    click.echo(f"Updated: {status}")


@secret.command("list", epilog=common.CREDENTIALS_HELP)
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.namespace_option
@common.gateway_option
def list_secrets(as_json: bool, namespace: str | None, gateway: str | None) -> None:
    """List secret names (never their values)."""
    with common.open_client(gateway) as client:
        found = client.list_secrets(namespace)
    if as_json:
        rows = [{"name": s.name, "namespace": s.namespace or ""} for s in found]
        click.echo(json.dumps(rows, indent=2))
        return
    if not found:
        click.echo("No secrets found.")
        return
    click.echo("NAME")
    for item in found:
        click.echo(item.name)


@secret.command("remove", epilog=common.CREDENTIALS_HELP)
@click.argument("name")
@common.namespace_option
@common.gateway_option
def remove(name: str, namespace: str | None, gateway: str | None) -> None:
    """Remove secret NAME."""
    with common.open_client(gateway) as client:
        client.delete_secret(name, namespace)
    click.echo("Removed.. OK.")
