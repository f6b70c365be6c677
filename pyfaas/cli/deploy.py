"""``pyfaas deploy``: create or update functions from a stack file or from flags.

Flags override the stack file as in faas-cli: ``-e`` over
``environment_file`` over inline ``environment``; ``-l``/``--annotation``
and ``--secret`` add to the stack's. The request is ``PUT`` then ``POST``
on 404 (``--update``, the default), ``POST`` only (``--no-update``) or
``DELETE`` then ``POST`` (``--replace``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from pyfaas.client import GatewayClient
from pyfaas.errors import BadRequest
from pyfaas.stack import Stack, StackFunction
from pyfaas.types import LIMITS_ENFORCED_ANNOTATION, FunctionDeployment, FunctionResources

from . import _common as common

_STATUS_TEXT = {200: "200 OK", 201: "201 Created", 202: "202 Accepted"}


@dataclass
class DeployFlags:
    """The command-line overrides shared by ``deploy``, ``up`` and ``store deploy``."""

    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    namespace: str | None = None
    readonly: bool = False
    limits: FunctionResources | None = None
    requests: FunctionResources | None = None
    update: bool = True
    replace: bool = False


def deploy_options(func: Any) -> Any:
    """The faas-cli deploy flags that apply to every way of deploying."""
    options = [
        click.option("-e", "--env", multiple=True, help="Environment variable KEY=VALUE"),
        click.option("-l", "--label", multiple=True, help="Label KEY=VALUE"),
        click.option("--annotation", multiple=True, help="Annotation KEY=VALUE"),
        click.option("--secret", multiple=True, help="Secret to mount in the function"),
        click.option("--constraint", multiple=True, help="Placement constraint"),
        click.option("--readonly", is_flag=True, help="Read-only root file system"),
        click.option("--cpu-limit", default=None, help="CPU limit, e.g. 100m"),
        click.option("--memory-limit", default=None, help="Memory limit, e.g. 128Mi"),
        click.option("--cpu-request", default=None, help="CPU request"),
        click.option("--memory-request", default=None, help="Memory request"),
        click.option("--update/--no-update", default=True, help="PUT first, POST on 404"),
        click.option("--replace", is_flag=True, help="Remove the function, then create it"),
        common.namespace_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def flags_from(kwargs: dict[str, Any]) -> DeployFlags:
    """Pop the ``deploy_options`` values out of a command's keyword arguments."""
    return DeployFlags(
        env=common.parse_pairs(kwargs.pop("env"), "--env"),
        labels=common.parse_pairs(kwargs.pop("label"), "--label"),
        annotations=common.parse_pairs(kwargs.pop("annotation"), "--annotation"),
        secrets=list(kwargs.pop("secret")),
        constraints=list(kwargs.pop("constraint")),
        namespace=kwargs.pop("namespace"),
        readonly=kwargs.pop("readonly"),
        limits=_resources(kwargs.pop("cpu_limit"), kwargs.pop("memory_limit")),
        requests=_resources(kwargs.pop("cpu_request"), kwargs.pop("memory_request")),
        update=kwargs.pop("update"),
        replace=kwargs.pop("replace"),
    )


def _resources(cpu: str | None, memory: str | None) -> FunctionResources | None:
    return FunctionResources(cpu=cpu, memory=memory) if cpu or memory else None


def template_fprocess(project: Path, lang: str) -> str | None:
    """The ``fprocess`` of ``template/<lang>/template.yml``, as faas-cli reads it."""
    if not lang or lang.lower() == "dockerfile":
        return None
    try:
        data = yaml.safe_load((project / "template" / lang / "template.yml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    value = data.get("fprocess") if isinstance(data, dict) else None
    return str(value) if value else None


def spec_for(stack: Stack, fn: StackFunction, flags: DeployFlags) -> FunctionDeployment:
    env = {**stack.environment(fn), **flags.env}
    return FunctionDeployment(
        service=fn.name,
        image=fn.image,
        namespace=flags.namespace or fn.namespace,
        envProcess=fn.fprocess or template_fprocess(stack.directory, fn.lang),
        envVars=env or None,
        constraints=[*fn.constraints, *flags.constraints] or None,
        secrets=[*fn.secrets, *flags.secrets] or None,
        labels={**fn.labels, **flags.labels},
        annotations={**fn.annotations, **flags.annotations},
        limits=flags.limits or fn.limits,
        requests=flags.requests or fn.requests,
        readOnlyRootFilesystem=flags.readonly or fn.readonly_root_filesystem,
    )


def spec_from_flags(
    name: str, image: str, fprocess: str | None, flags: DeployFlags
) -> FunctionDeployment:
    return FunctionDeployment(
        service=name,
        image=image,
        namespace=flags.namespace,
        envProcess=fprocess,
        envVars=flags.env or None,
        constraints=flags.constraints or None,
        secrets=flags.secrets or None,
        labels=flags.labels,
        annotations=flags.annotations,
        limits=flags.limits,
        requests=flags.requests,
        readOnlyRootFilesystem=flags.readonly,
    )


def deploy_one(client: GatewayClient, spec: FunctionDeployment, flags: DeployFlags) -> None:
    """Deploy and print what faas-cli prints."""
    click.echo(f"Deploying: {spec.service}.")
    with common.progress(f"Deploying {spec.service}"):
        status = client.deploy(spec, update=flags.update, replace=flags.replace)
    click.echo(f"\nDeployed. {_STATUS_TEXT.get(status, str(status))}.")
    click.echo(f"URL: {common.function_url(client.base_url, spec.service, spec.namespace)}")
    if spec.limits or spec.requests:
        # A process runtime may not enforce a limit as a container would: say how it does.
        annotations = client.get_function(spec.service, spec.namespace).annotations or {}
        enforced = annotations.get(LIMITS_ENFORCED_ANNOTATION)
        if enforced:
            click.echo(f"Limits: {enforced}")
    click.echo()


def deploy_stack(
    gateway: str | None, stack: Stack, functions: list[StackFunction], flags: DeployFlags
) -> None:
    with common.open_client(gateway, stack) as client:
        for fn in functions:
            if not fn.image:
                raise BadRequest(f"{stack.path}: functions.{fn.name}.image: an image is required")
            deploy_one(client, spec_for(stack, fn, flags), flags)


@click.command(epilog=common.CREDENTIALS_HELP)
@click.option("--image", default=None, help="Image to deploy (without a stack file)")
@click.option("--name", default=None, help="Function name (without a stack file)")
@click.option("--fprocess", default=None, help="Process the watchdog runs")
@deploy_options
@common.gateway_option
@common.stack_options
def deploy(**kwargs: Any) -> None:
    """Deploy functions from a stack file, or one function from --image and --name."""
    flags = flags_from(kwargs)
    image, name, fprocess = kwargs["image"], kwargs["name"], kwargs["fprocess"]
    if image or name:
        if not (image and name):
            raise BadRequest("--image and --name must be given together")
        with common.open_client(kwargs["gateway"]) as client:
            deploy_one(client, spec_from_flags(name, image, fprocess, flags), flags)
        return
    stack = common.require_stack(kwargs["yaml_file"], envsubst=kwargs["envsubst"])
    functions = common.selected(stack, kwargs["filter_"], kwargs["regex"])
    deploy_stack(kwargs["gateway"], stack, functions, flags)
