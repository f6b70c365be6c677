"""The ``/system/secrets`` API: list, create, update, delete.

Create answers 202 (409 if it exists, so ``faas-cli secret create --replace``
retries with PUT); update 202 (404 if absent); delete 202, never 204, because
faas-cli accepts only 200 or 202 there. Values are never listed.
"""

from __future__ import annotations

from aiohttp import web

from pyfaas.gateway.bodies import read_request
from pyfaas.gateway.responses import accepted, json_response
from pyfaas.gateway.state import STATE, GatewayState
from pyfaas.naming import validate_secret_name
from pyfaas.types import Secret, parse_body


async def _secret(request: web.Request, state: GatewayState) -> tuple[Secret, str]:
    body = await read_request(request, state.settings.max_system_body)
    secret = parse_body(Secret, body)
    validate_secret_name(secret.name)
    namespace = await state.namespace(request.query.get("namespace"), secret.namespace)
    return secret, namespace


async def list_secrets(request: web.Request) -> web.Response:
    state = request.app[STATE]
    namespace = await state.namespace(request.query.get("namespace"))
    names = await state.provider.list_secrets(namespace)
    return json_response([{"name": name, "namespace": namespace} for name in names])


async def create_secret(request: web.Request) -> web.Response:
    state = request.app[STATE]
    secret, namespace = await _secret(request, state)
    await state.provider.create_secret(secret.name, namespace, secret.data())
    return accepted()


async def update_secret(request: web.Request) -> web.Response:
    state = request.app[STATE]
    secret, namespace = await _secret(request, state)
    await state.provider.update_secret(secret.name, namespace, secret.data())
    return accepted()


async def delete_secret(request: web.Request) -> web.Response:
    state = request.app[STATE]
    secret, namespace = await _secret(request, state)
    await state.provider.delete_secret(secret.name, namespace)
    return accepted()


def add_routes(app: web.Application) -> None:
    app.router.add_get("/system/secrets", list_secrets)
    app.router.add_post("/system/secrets", create_secret)
    app.router.add_put("/system/secrets", update_secret)
    app.router.add_delete("/system/secrets", delete_secret)
