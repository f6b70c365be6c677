"""``pyfaas login`` and ``logout``: the faas-cli config file entry for a gateway."""

from __future__ import annotations

import os
import sys

import click

from pyfaas.client import GatewayClient
from pyfaas.client.config import remove_auth, save_auth
from pyfaas.errors import BadRequest

from . import _common as common


@click.command()
@click.option("-u", "--username", default="admin", help="User name (default: admin)")
@click.option("-p", "--password", default=None, help="Password (prefer --password-stdin)")
@click.option("-s", "--password-stdin", is_flag=True, help="Read the password from stdin")
@click.option("--timeout", default=5.0, type=float, help="Seconds to wait for the gateway")
@common.tls_option
@common.gateway_url_option
def login(
    username: str,
    password: str | None,
    password_stdin: bool,
    timeout: float,
    gateway: str | None,
) -> None:
    """Check credentials against the gateway and save them in ~/.openfaas/config.yml."""
    if password and password_stdin:
        raise BadRequest("--password and --password-stdin cannot be used together")
    if password_stdin:
        password = sys.stdin.read().strip()
    elif password:
        click.echo(
            "WARNING! Using --password is insecure, consider using: "
            "cat ~/faas_pass.txt | pyfaas login -u user --password-stdin",
            err=True,
        )
    if not password:
        raise BadRequest("a password is required: use --password-stdin or --password")
    url = common.gateway_url(gateway)
    click.echo("Calling the OpenFaaS server to validate the credentials...")
    with GatewayClient(url, (username, password), timeout, verify=common.tls_verify()) as client:
        client.check_auth()
    path = save_auth(os.environ, url, username, password)
    click.echo(f"credentials saved for {username} {url} in {path}")


@click.command()
@common.gateway_url_option
def logout(gateway: str | None) -> None:
    """Forget the saved credentials of the gateway."""
    url = common.gateway_url(gateway)
    if not remove_auth(os.environ, url):
        raise BadRequest(f"you are not logged in to {url}")
    click.echo(f"credentials removed for {url}")
