"""A gateway that refuses the credentials: the error line names what was sent and how to
log in there, whichever credentials it was (none, a saved login, the platform's own, a
token)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyfaas import credentials
from pyfaas.cli.main import cli
from pyfaas.client.config import save_auth
from pyfaas.paths import StatePaths

pytestmark = pytest.mark.integration


class Refusing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"invalid credentials\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="Restricted"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(host: str) -> Iterator[str]:
    server = ThreadingHTTPServer((host, 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def local() -> Iterator[str]:
    yield from _serve("127.0.0.1")


@pytest.fixture
def elsewhere() -> Iterator[str]:
    # Another address of the loopback: a gateway that is not "this machine's" by name.
    yield from _serve("127.0.0.2")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "OPENFAAS_CONFIG": str(tmp_path / "openfaas"),
        "PYFAAS_HOME": str(tmp_path / "home"),
        "OPENFAAS_URL": "",
        "CI": "",
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def refused(result: Result, url: str) -> str:
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {url} refused ")
    assert "invalid credentials" in line
    assert f"pyfaas login -g {url} --username USER --password-stdin" in line
    return line


def test_no_login_for_another_gateway(elsewhere: str, env: dict[str, str], tmp_path: Path) -> None:
    line = refused(run(env, "list", "-g", elsewhere), elsewhere)
    assert f"no credentials (no `pyfaas login` for it in {tmp_path / 'openfaas'}" in line


def test_a_saved_login(elsewhere: str, env: dict[str, str]) -> None:
    save_auth(env, elsewhere, "bob", "wrong")
    line = refused(run(env, "list", "-g", elsewhere), elsewhere)
    assert "the login saved for it in " in line
    assert "(user bob)" in line


def test_this_machines_credentials(local: str, env: dict[str, str], tmp_path: Path) -> None:
    credentials.ensure(StatePaths(tmp_path / "home").ensure())
    line = refused(run(env, "secret", "list", "-g", local), local)
    assert f"this machine's platform credentials from {tmp_path / 'home' / 'credentials'}" in line


def test_a_token(elsewhere: str, env: dict[str, str]) -> None:
    line = refused(run(env, "list", "-g", elsewhere, "-k", "abc"), elsewhere)
    assert "the bearer token given with -k/--token" in line
    assert "takes no bearer token" in line
