"""What the gateway serves for the portal: its files, their policy, the store listing, auth."""

from __future__ import annotations

import re

import httpx
import pytest

from pyfaas.gateway.portal.files import static_root
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.integration

LOADS_ELSEWHERE = re.compile(
    r"""(import\s[^;]*?from\s*|import\(\s*|fetch\(\s*|url\(\s*|src=|href=|@import\s*)["'`]?(https?:)?//"""
)
ASSETS = [
    ("/ui/static/js/main.js", "text/javascript"),
    ("/ui/static/js/views/calls.js", "text/javascript"),
    ("/ui/static/portal.css", "text/css"),
]


def get(platform: Platform, path: str, auth: bool = True) -> httpx.Response:
    return httpx.get(
        f"{platform.url}{path}",
        auth=platform.auth() if auth else None,
        timeout=10,
        follow_redirects=False,
    )


def test_the_page_and_its_modules_are_served_with_a_same_origin_policy(
    platform: Platform,
) -> None:
    page = get(platform, "/ui/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="/ui/static/js/main.js">' in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "connect-src 'self'" in policy
    for path, kind in ASSETS:
        answer = get(platform, path)
        assert answer.status_code == 200, path
        assert answer.headers["Content-Type"].startswith(kind), path
        assert answer.headers["Cache-Control"] == "no-cache"
    assert get(platform, "/ui").headers["Location"] == "/ui/"


def test_nothing_is_loaded_from_elsewhere(platform: Platform) -> None:
    """No file of the portal loads, imports or fetches anything by an absolute URL."""
    files = sorted(p for p in static_root().rglob("*") if p.is_file())
    assert len(files) > 5
    for path in files:
        relative = path.relative_to(static_root()).as_posix()
        answer = get(platform, "/ui/" if relative == "index.html" else f"/ui/static/{relative}")
        assert answer.status_code == 200, relative
        assert not LOADS_ELSEWHERE.search(answer.text), relative


def test_the_shell_is_open_and_the_rest_needs_the_admin_credentials(platform: Platform) -> None:
    """The page and its files hold only code; what they read is behind Basic auth."""
    for path in ("/ui/", "/ui/static/js/main.js"):
        assert get(platform, path, auth=False).status_code == 200, path
    for path in ("/ui/api/store", "/system/calls"):
        answer = get(platform, path, auth=False)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
        portal = httpx.get(
            f"{platform.url}{path}", headers={"X-Requested-With": "pyfaas-portal"}, timeout=10
        )
        assert portal.status_code == 401
        assert "WWW-Authenticate" not in portal.headers


def test_paths_outside_the_static_folder_are_not_served(platform: Platform) -> None:
    for path in ("/ui/static/../files.py", "/ui/static/%2e%2e/files.py", "/ui/static/nope.js"):
        assert get(platform, path).status_code == 404, path


def test_the_store_listing_is_the_shipped_index(platform: Platform) -> None:
    answer = get(platform, "/ui/api/store")
    assert answer.status_code == 200
    items = {item["name"]: item for item in answer.json()}
    assert {"env", "figlet", "sleep"} <= set(items)
    assert items["env"]["image"] == "ghcr.io/openfaas/alpine:latest"
    assert items["env"]["fprocess"] == "env"
