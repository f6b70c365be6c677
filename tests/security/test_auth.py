"""Basic auth on the system API: 401 without a stack trace; the open routes stay open.

``pyfaas login`` stores the faas-cli config entry with mode 0600, and a later
CLI call authenticates with it alone.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.security.platform import PYTHON, Platform

pytestmark = pytest.mark.integration

PROTECTED = ["/system/functions", "/system/info", "/system/secrets", "/system/logs?name=x"]
PROTECTED += ["/ui/api/store"]  # the portal's page itself is open: it asks in a form
BAD_AUTH = [
    {},
    {"Authorization": "Basic YWRtaW46d3Jvbmc="},  # admin:wrong
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic !!!notbase64"},
    {"Authorization": "Basic "},
]


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize("headers", BAD_AUTH)
def test_system_routes_need_credentials(
    platform: Platform, path: str, headers: dict[str, str]
) -> None:
    status, head, body = raw_get(platform.port, path, headers)
    assert status == 401
    assert "Traceback" not in body
    assert len(body.strip().splitlines()) <= 1
    assert "www-authenticate: basic" in head.lower()


def raw_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, str, str]:
    """One GET over a plain socket: headers exactly as given (httpx refuses ``Bearer ``)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split(" ", 2)[1]), head, body


def test_right_credentials_pass(platform: Platform) -> None:
    with platform.client() as client:
        for path in PROTECTED[:3]:
            assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("path", "method"),
    [("/healthz", "GET"), ("/function/healthy", "POST"), ("/async-function/healthy", "POST")],
)
def test_function_routes_and_health_are_open(platform: Platform, path: str, method: str) -> None:
    with httpx.Client(base_url=platform.url, timeout=10) as client:
        resp = client.request(method, path, content=b"hi")
    assert resp.status_code in (200, 202)


def test_credentials_files_are_private(platform: Platform) -> None:
    credentials = platform.home / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
    assert stat.S_IMODE(platform.home.stat().st_mode) == 0o700
    files = list(credentials.iterdir())
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _cli(
    platform: Platform, home: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        # An empty state directory: the CLI must not find the platform's credentials.
        "PYFAAS_HOME": str(home / "no-state"),
    }
    return subprocess.run(
        [PYTHON, "-c", "from pyfaas.cli.main import main; main()", *args, "-g", platform.url],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_login_stores_a_private_config_the_cli_then_uses(
    platform: Platform, tmp_path: Path
) -> None:
    before = _cli(platform, tmp_path, "list")
    assert before.returncode != 0
    assert "Traceback" not in before.stderr
    user, password = platform.auth
    login = _cli(
        platform, tmp_path, "login", "--username", user, "--password-stdin", stdin=password
    )
    assert login.returncode == 0, login.stderr
    config = tmp_path / ".openfaas" / "config.yml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert password not in login.stdout + login.stderr
    after = _cli(platform, tmp_path, "list")
    assert after.returncode == 0, after.stderr
    assert "healthy" in after.stdout


def test_login_with_a_wrong_password_fails_cleanly(platform: Platform, tmp_path: Path) -> None:
    login = _cli(platform, tmp_path, "login", "--username", "admin", "--password-stdin", stdin="no")
    assert login.returncode != 0
    assert "Traceback" not in login.stderr
    assert not (tmp_path / ".openfaas" / "config.yml").exists()


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another port of the same host
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_a_browser_request_from_another_site_is_refused_whatever_its_credentials(
    platform: Platform, headers: dict[str, str], method: str
) -> None:
    with platform.client() as client:
        resp = client.request(method, "/system/functions", headers=headers)
    assert resp.status_code == 403
    assert resp.text == "cross-site request refused\n"


def test_a_browser_request_from_the_gateway_itself_is_served(platform: Platform) -> None:
    headers = {"Sec-Fetch-Site": "same-origin", "Origin": platform.url}
    with platform.client() as client:
        assert client.get("/system/functions", headers=headers).status_code == 200
        # Invocations stay open to any page, as in OpenFaaS.
        resp = client.post("/function/healthy", headers={"Origin": "http://evil.example"})
    assert resp.status_code == 200


def test_the_admin_login_sent_with_a_call_never_reaches_the_function(platform: Platform) -> None:
    platform.deploy("show-env", "env")
    with platform.client() as client:  # the admin login on every request, as faas-cli does
        sync = client.post("/function/show-env", content=b"")
    with httpx.Client(base_url=platform.url, timeout=30) as client:
        token = client.post(
            "/function/show-env", content=b"", headers={"Authorization": "Bearer own-token"}
        )
    assert sync.status_code == 200, sync.text
    assert "Http_Authorization" not in sync.text
    assert "Http_Authorization=Bearer own-token" in token.text  # a function's own token passes
