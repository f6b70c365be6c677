"""The ``/system`` function API: list, deploy, update, delete, status, scale, info.

Status codes follow what faas-cli and the certifier accept (contract §1.5,
§8): deploy/update/delete/scale answer 202 with an empty body, PUT on a
missing function is 404 (faas-cli then falls back to POST), a duplicate
deploy is 409. The namespace comes from the query string, else the body,
else the default; a namespace the provider does not have is a 400
``namespace not valid``.
"""

from __future__ import annotations

import platform

from aiohttp import web

from pyfaas import __version__
from pyfaas.errors import InvalidBody, NotFound, NotImplementedFeature
from pyfaas.gateway.bodies import read_request
from pyfaas.gateway.responses import accepted, json_response
from pyfaas.gateway.state import STATE, GatewayState
from pyfaas.naming import validate_name
from pyfaas.types import (
    LIMITS_ENFORCED_ANNOTATION,
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionStatus,
    FunctionUsageStatus,
    ScaleServiceRequest,
    VersionInfo,
    parse_body,
)

GATEWAY_SHA = "pyfaas"
LIMITS_ENFORCED_HEADER = "X-Pyfaas-Limits-Enforced"


async def _body(request: web.Request, state: GatewayState) -> bytes:
    return await read_request(request, state.settings.max_system_body)


async def list_functions(request: web.Request) -> web.Response:
    state = request.app[STATE]
    namespace = await state.namespace(request.query.get("namespace"))
    functions = await state.provider.list_functions(namespace)
    out = []
    for status in functions:
        count = state.metrics.invocation_count(f"{status.name}.{status.namespace}")
        out.append(status.model_copy(update={"invocation_count": float(count)}).to_wire())
    return json_response(out)


async def _deployment(request: web.Request, state: GatewayState) -> tuple[FunctionDeployment, str]:
    deployment = parse_body(FunctionDeployment, await _body(request, state))
    validate_name(deployment.service)
    namespace = await state.namespace(request.query.get("namespace"), deployment.namespace)
    return deployment, namespace


async def deploy_function(request: web.Request) -> web.Response:
    state = request.app[STATE]
    deployment, namespace = await _deployment(request, state)
    await state.provider.deploy(deployment, namespace)
    return await _deployed(state, deployment, namespace)


async def update_function(request: web.Request) -> web.Response:
    state = request.app[STATE]
    deployment, namespace = await _deployment(request, state)
    await state.provider.update(deployment, namespace)
    return await _deployed(state, deployment, namespace)


async def _deployed(
    state: GatewayState, deployment: FunctionDeployment, namespace: str
) -> web.Response:
    """202, saying how the function's limits are enforced when it asks for any."""
    response = accepted()
    if deployment.limits or deployment.requests:
        status = await state.provider.get_function(deployment.service, namespace)
        enforced = (status.annotations or {}).get(LIMITS_ENFORCED_ANNOTATION)
        if enforced:
            response.headers[LIMITS_ENFORCED_HEADER] = enforced
    return response


async def delete_function(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = parse_body(DeleteFunctionRequest, await _body(request, state))
    name = validate_name(body.function_name)
    namespace = await state.namespace(request.query.get("namespace"), body.namespace)
    await state.provider.delete(name, namespace)
    return accepted()


async def function_status(request: web.Request) -> web.Response:
    state = request.app[STATE]
    name = validate_name(request.match_info["name"])
    namespace = await state.namespace(request.query.get("namespace"))
    status = await state.provider.get_function(name, namespace)
    if request.query.get("usage") in _YES:
        status = await _with_usage(state, status)
    return json_response(status.to_wire())


_YES = frozenset({"1", "true"})


async def _with_usage(state: GatewayState, status: FunctionStatus) -> FunctionStatus:
    """The status with the replicas' CPU and memory, as OpenFaaS Pro's ``usage``.

    The provider measures CPU in cores; the wire carries millicores. A
    provider that cannot measure leaves ``usage`` out, as OpenFaaS CE does.
    """
    usage = await state.provider.usage(status.name, status.namespace)
    if usage is None:
        return status
    wire = FunctionUsageStatus(cpu=usage.cpu * 1000, totalMemoryBytes=float(usage.memory))
    return status.model_copy(update={"usage": wire})


async def scale_function(request: web.Request) -> web.Response:
    state = request.app[STATE]
    name = validate_name(request.match_info["name"])
    body = parse_body(ScaleServiceRequest, await _body(request, state))
    if body.service_name and body.service_name != name:
        raise InvalidBody(f"serviceName {body.service_name!r} does not match the path ({name})")
    namespace = await state.namespace(request.query.get("namespace"), body.namespace)
    await state.provider.get_function(name, namespace)
    await state.provider.scale(name, namespace, body.replicas)
    return accepted()


async def info(request: web.Request) -> web.Response:
    state = request.app[STATE]
    provider = await state.provider.info()
    version = VersionInfo(
        commit_message="pyfaas gateway", sha=GATEWAY_SHA, release=__version__
    ).to_wire()
    return json_response(
        {"provider": provider.to_wire(), "version": version, "arch": platform.machine()}
    )


async def namespaces(request: web.Request) -> web.Response:
    state = request.app[STATE]
    found = await state.provider.namespaces()
    default = state.settings.function_namespace
    ordered = [default, *(ns for ns in found if ns != default)]
    return json_response(ordered)


async def namespace(request: web.Request) -> web.Response:
    """``faas-cli namespace get``: the namespace as a FunctionNamespace object."""
    state = request.app[STATE]
    name = request.match_info["namespace"]
    if name not in await state.provider.namespaces():
        raise NotFound(f"namespace {name} not found")
    return json_response({"name": name})


async def namespace_change(request: web.Request) -> web.Response:
    # Namespaces are fixed by configuration, as in OpenFaaS CE's providers.
    raise NotImplementedFeature("Feature not implemented in this version of OpenFaaS")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def root(request: web.Request) -> web.Response:
    raise web.HTTPTemporaryRedirect("/ui/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/system/functions", list_functions)
    app.router.add_post("/system/functions", deploy_function)
    app.router.add_put("/system/functions", update_function)
    app.router.add_delete("/system/functions", delete_function)
    app.router.add_get("/system/function/{name}", function_status)
    app.router.add_post("/system/scale-function/{name}", scale_function)
    app.router.add_get("/system/info", info)
    app.router.add_get("/system/namespaces", namespaces)
    app.router.add_get("/system/namespace/{namespace}", namespace)
    for method in ("POST", "PUT", "DELETE"):
        app.router.add_route(method, "/system/namespace/{namespace:.*}", namespace_change)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", root)
