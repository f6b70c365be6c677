"""``pyfaas version``, ``ready`` and ``namespace list``: the gateway itself."""

from __future__ import annotations

import json
import time

import click

from pyfaas import __version__
from pyfaas.errors import PyfaasError, ServiceUnavailable

from . import _common as common


@click.command(epilog=common.CREDENTIALS_HELP)
@click.option("--short-version", is_flag=True, help="Print only the client's version")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def version(short_version: bool, as_json: bool, gateway: str | None) -> None:
    """Print the client's version and the gateway's and provider's."""
    if short_version:
        click.echo(__version__)
        return
    with common.open_client(gateway, timeout=5.0) as client:
        try:
            info = client.info()
        except PyfaasError as exc:
            # As faas-cli: the client's version is still worth printing.
            info = None
            click.echo(f"Gateway not reachable: {exc.message}", err=True)
        url = client.base_url
    if as_json:
        data = {"cli": {"version": __version__}, "gateway": info.model_dump() if info else None}
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(f"CLI:\n version: {__version__}")
    if info is None:
        return
    if info.version:
        click.echo(f"\nGateway\n uri:     {url}\n version: {info.version.release}")
        click.echo(f" sha:     {info.version.sha}")
    if info.provider:
        provider = info.provider
        click.echo(f"\nProvider\n name:          {provider.provider}")
        click.echo(f" orchestration: {provider.orchestration}")
        click.echo(f" version:       {provider.version.release}")
        click.echo(f" sha:           {provider.version.sha}")


@click.command(epilog=common.CREDENTIALS_HELP)
@click.argument("name", required=False)
@click.option("--attempts", default=60, type=int, help="How many times to check")
@click.option("--interval", default=1.0, type=float, help="Seconds between checks")
@common.namespace_option
@common.gateway_option
def ready(
    name: str | None, attempts: int, interval: float, namespace: str | None, gateway: str | None
) -> None:
    """Wait for the gateway (or function NAME) to be ready."""
    with common.open_client(gateway, timeout=5.0) as client:
        for attempt in range(max(attempts, 1)):
            if attempt:
                time.sleep(interval)
            if name is None:
                if client.healthz():
                    click.echo("OpenFaaS gateway is ready")
                    return
                continue
            try:
                if client.get_function(name, namespace).available_replicas > 0:
                    click.echo(f"Function {name} is ready")
                    return
            except PyfaasError:
                continue
    what = f"function {name}" if name else "the gateway"
    raise ServiceUnavailable(f"{what} is not ready after {attempts} attempts")


@click.command("namespaces", epilog=common.CREDENTIALS_HELP)
@click.option("-j", "--json", "as_json", is_flag=True, help="Print JSON")
@common.gateway_option
def namespaces(as_json: bool, gateway: str | None) -> None:
    """List the namespaces functions can be deployed to."""
    with common.open_client(gateway) as client:
        found = client.namespaces()
    if as_json:
        click.echo(json.dumps(found))
        return
    click.echo("Namespaces:")
    for name in found:
        click.echo(f" - {name}")


@click.group("namespace", cls=common.PyfaasGroup, aliases={"ls": "list"})
def namespace() -> None:
    """Namespaces."""


namespace.add_command(namespaces, "list")
