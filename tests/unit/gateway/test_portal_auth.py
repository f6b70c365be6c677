"""The portal's shell is served without credentials; its own requests get a 401 without a prompt.

The page and its static files hold only the page's code, so opening
``/ui/`` never meets the browser's Basic prompt: the page asks in a form of
its own. Everything else under ``/system`` and ``/ui`` keeps the challenge
that faas-cli expects, except for a request marked as the portal's, and a
browser request from another site stays a 403.
"""

from __future__ import annotations

import pytest
from aiohttp import ClientSession

from tests.unit.gateway.conftest import AUTH

Client = ClientSession
PORTAL = {"X-Requested-With": "pyfaas-portal"}
DEPLOY = {"service": "listed-here", "image": "ghcr.io/openfaas/alpine:latest", "envProcess": "env"}


async def test_the_shell_is_served_without_credentials_and_lists_nothing(client: Client) -> None:
    await client.post("/system/functions", json=DEPLOY, headers=AUTH)
    page = await client.get("/ui/")
    assert page.status == 200
    assert "WWW-Authenticate" not in page.headers
    text = await page.text()
    assert '<form id="login-form"' in text
    assert "listed-here" not in text
    signed_in = await client.get("/ui/", headers=AUTH)
    assert "listed-here" in await signed_in.text()  # the noscript list, for a request signed in
    for path in ("/ui/static/js/main.js", "/ui/static/js/api.js", "/ui/static/portal.css"):
        assert (await client.get(path)).status == 200, path


@pytest.mark.parametrize("path", ["/system/info", "/system/calls", "/ui/api/store"])
async def test_the_portals_own_requests_get_a_401_without_a_challenge(
    client: Client, path: str
) -> None:
    plain = await client.get(path)
    assert plain.status == 401
    assert plain.headers["WWW-Authenticate"] == 'Basic realm="Restricted"'
    portal = await client.get(path, headers=PORTAL)
    assert portal.status == 401
    assert "WWW-Authenticate" not in portal.headers
    assert await portal.text() == "invalid credentials\n"
    wrong = await client.get(path, headers={**PORTAL, "Authorization": "Basic YWRtaW46bm8="})
    assert (wrong.status, wrong.headers.get("WWW-Authenticate")) == (401, None)


@pytest.mark.parametrize("path", ["/ui/", "/ui/static/js/main.js", "/system/info"])
async def test_a_cross_site_request_is_refused_even_for_the_shell(
    client: Client, path: str
) -> None:
    resp = await client.get(path, headers={**AUTH, "Sec-Fetch-Site": "cross-site"})
    assert resp.status == 403
    assert await resp.text() == "cross-site request refused\n"
    bare = await client.get(path, headers={"Origin": "http://evil.example"})
    assert bare.status in (401, 403)
    assert bare.status == 403 or path == "/system/info"
