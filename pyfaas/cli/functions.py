"""``pyfaas list``, ``describe`` and ``remove``: looking at and removing deployed functions."""

from __future__ import annotations

import json
from typing import Any

import click

from pyfaas.types import FunctionStatus, format_time

from . import _common as common

_SORT_KEYS = {
    "name": lambda f: f.name,
    "invocations": lambda f: -f.invocation_count,
    "creation": lambda f: f.created_at,
}


@click.command("list", epilog=common.CREDENTIALS_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Show the image and creation time too")
@click.option("-q", "--quiet", is_flag=True, help="Print only function names")
@click.option("--sort", type=click.Choice(sorted(_SORT_KEYS)), default="name", help="Sort order")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the JSON the gateway sent")
@common.namespace_option
@common.gateway_option
def list_functions(
    verbose: bool, quiet: bool, sort: str, as_json: bool, namespace: str | None, gateway: str | None
) -> None:
    """List the deployed functions."""
    with common.open_client(gateway) as client:
        functions = sorted(client.list_functions(namespace), key=_SORT_KEYS[sort])
    if as_json:
        click.echo(json.dumps([f.to_wire() for f in functions], indent=2))
    elif quiet:
        for fn in functions:
            click.echo(fn.name)
    else:
        click.echo(_table(functions, verbose), nl=False)


def _table(functions: list[FunctionStatus], verbose: bool) -> str:
    rows: list[tuple[str, ...]]
    if verbose:
        rows = [("Function", "Image", "Invocations", "Replicas", "CreatedAt")]
        rows += [
            (f.name, f.image, str(int(f.invocation_count)), str(f.replicas), str(f.created_at))
            for f in functions
        ]
    else:
        rows = [("Function", "Invocations", "Replicas")]
        rows += [(f.name, str(int(f.invocation_count)), str(f.replicas)) for f in functions]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "".join(line.rstrip() + "\n" for line in lines)


@click.command(epilog=common.CREDENTIALS_HELP)
@click.argument("name")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print the function's status as JSON")
@common.namespace_option
@common.gateway_option
def describe(name: str, as_json: bool, namespace: str | None, gateway: str | None) -> None:
    """Show the details of a function."""
    with common.open_client(gateway) as client:
        fn = client.get_function(name, namespace, usage=True)
        # The list carries the invocation count; the single status may not.
        for listed in client.list_functions(namespace):
            if listed.name == fn.name:
                fn.invocation_count = listed.invocation_count
        base = client.base_url
    if as_json:
        click.echo(json.dumps(fn.to_wire(), indent=2))
        return
    click.echo(_description(fn, base), nl=False)


def _description(fn: FunctionStatus, gateway: str) -> str:
    rows: list[tuple[str, Any]] = [
        ("Name", fn.name),
        ("Status", "Ready" if fn.available_replicas > 0 else "Not Ready"),
        ("Replicas", fn.replicas),
        ("Available Replicas", fn.available_replicas),
        ("Invocations", int(fn.invocation_count)),
        ("Image", fn.image),
        ("Function Process", fn.env_process or ""),
        ("URL", common.function_url(gateway, fn.name, fn.namespace)),
        ("Async URL", common.function_url(gateway, fn.name, fn.namespace, asynchronous=True)),
        ("Created", format_time(fn.created_at)),
    ]
    for title, values in (
        ("Labels", fn.labels),
        ("Annotations", fn.annotations),
        ("Environment", fn.env_vars or {}),
    ):
        if values:
            rows.append((title, ", ".join(f"{k}: {v}" for k, v in sorted(values.items()))))
    if fn.secrets:
        rows.append(("Secrets", ", ".join(fn.secrets)))
    for title, res in (("Limits", fn.limits), ("Requests", fn.requests)):
        if res and res.to_wire():
            rows.append((title, ", ".join(f"{k}: {v}" for k, v in res.to_wire().items())))
    width = max(len(title) for title, _ in rows) + 2
    text = "".join(f"{(title + ':').ljust(width)}{value}\n" for title, value in rows)
    if fn.usage is not None:
        # As faas-cli prints it: memory in MB, CPU in millicores ("Mi").
        text += "Usage:\n"
        text += f"  {'RAM:'.ljust(width - 2)}{fn.usage.total_memory_bytes / 1024 / 1024:.2f} MB\n"
        text += f"  {'CPU:'.ljust(width - 2)}{fn.usage.cpu:.0f} Mi\n"
    return text


@click.command(epilog=common.CREDENTIALS_HELP)
@click.argument("name", required=False)
@common.namespace_option
@common.gateway_option
@common.stack_options
def remove(
    name: str | None,
    namespace: str | None,
    gateway: str | None,
    yaml_file: str | None,
    envsubst: bool,
    filter_: str | None,
    regex: str | None,
) -> None:
    """Remove a function by NAME, or the functions of a stack file."""
    targets: list[tuple[str, str | None]]
    stack = None
    if name:
        targets = [(name, namespace)]
        stack = common.load_stack_file(yaml_file, envsubst=envsubst) if yaml_file else None
    else:
        stack = common.require_stack(yaml_file, envsubst=envsubst)
        targets = [
            (f.name, namespace or f.namespace) for f in common.selected(stack, filter_, regex)
        ]
    with common.open_client(gateway, stack) as client:
        for target, ns in targets:
            click.echo(f"Deleting: {target}.")
            if client.delete(target, ns, missing_ok=True):
                click.echo("Removing old function.")
            else:
                # faas-cli reports this and carries on: removing nothing is not a failure.
                click.echo("No existing function to remove")
