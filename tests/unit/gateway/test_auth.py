"""Basic auth on /system and /ui; open invocations, health and metrics."""

from __future__ import annotations

import base64

from aiohttp import ClientSession

from pyfaas.credentials import Credentials
from pyfaas.gateway.auth import check_basic
from tests.unit.gateway.conftest import AUTH, MakeClient

Client = ClientSession


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_missing_wrong_and_empty_bearer_are_401(client: Client) -> None:
    for headers in (
        {},
        basic("admin", "wrong"),
        basic("root", "s3cret"),
        {"Authorization": "Bearer "},
    ):
        resp = await client.get("/system/functions", headers=headers)
        assert resp.status == 401, headers
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="Restricted"'
        assert await resp.text() == "invalid credentials\n"


async def test_valid_credentials_pass(client: Client) -> None:
    assert (await client.get("/system/functions", headers=AUTH)).status == 200


async def test_open_routes(client: Client) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/metrics")).status == 200


async def test_disabled_auth_ignores_empty_bearer(make_client: MakeClient) -> None:
    client = await make_client(basic_auth=False)
    resp = await client.get("/system/functions", headers={"Authorization": "Bearer "})
    assert resp.status == 200


def test_check_basic_rejects_garbage() -> None:
    creds = Credentials("admin", "pw")
    assert check_basic("Basic " + base64.b64encode(b"admin:pw").decode(), creds)
    assert not check_basic("Basic !!!", creds)
    assert not check_basic("Basic " + base64.b64encode(b"adminpw").decode(), creds)
    assert not check_basic(None, creds)
