"""``--token`` and ``--tls-no-verify`` against real local servers: what reaches the wire.

A recording HTTP server answers like a gateway with no functions and keeps
every request's ``Authorization`` header; an HTTPS twin serves a self-signed
certificate made for the test by the ``openssl`` binary.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyfaas.cli.main import cli
from pyfaas.client import GatewayClient
from pyfaas.client.config import save_auth
from pyfaas.errors import BadGateway

pytestmark = pytest.mark.integration


@dataclass
class Recorder:
    url: str
    server: ThreadingHTTPServer
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)


def _handler(seen: list[tuple[str, str, str | None]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self._read_body()
            seen.append((self.command, self.path, self.headers.get("Authorization")))
            body = b"[]" if self.path.startswith("/system/") else b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _read_body(self) -> None:
            # Read all of it, chunked too (invoke streams stdin): answering and
            # closing before the body is in makes the client's write fail.
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    self.rfile.read(size + 2)
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers, up to the blank line
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a refused TLS handshake is part of the test, not an error to print


def _serve(context: ssl.SSLContext | None) -> Iterator[Recorder]:
    seen: list[tuple[str, str, str | None]] = []
    server = _QuietServer(("127.0.0.1", 0), _handler(seen))
    scheme = "http"
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Recorder(f"{scheme}://127.0.0.1:{server.server_address[1]}", server, seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def plain() -> Iterator[Recorder]:
    yield from _serve(None)


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[Recorder]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl binary is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield from _serve(context)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # No saved login and no local platform credentials unless a test adds them.
    return {
        "OPENFAAS_CONFIG": str(tmp_path / "openfaas"),
        "PYFAAS_HOME": str(tmp_path / "no-home"),
        "OPENFAAS_URL": "",
        "CI": "",
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, env=env, catch_exceptions=False)


def test_token_replaces_the_saved_credentials(plain: Recorder, env: dict[str, str]) -> None:
    save_auth(env, plain.url, "admin", "secret")
    assert run(env, "list", "-g", plain.url).exit_code == 0
    assert run(env, "list", "-g", plain.url, "--token", "abc.def").exit_code == 0
    assert run(env, "invoke", "fn", "-g", plain.url, "-k", "tok2", stdin="hi").exit_code == 0
    saved, given, invoked = plain.seen
    assert saved[2] is not None
    assert saved[2].startswith("Basic ")
    assert given == ("GET", "/system/functions", "Bearer abc.def")
    assert invoked == ("POST", "/function/fn.openfaas-fn", "Bearer tok2")


def test_token_on_every_gateway_command_group(plain: Recorder, env: dict[str, str]) -> None:
    assert run(env, "secret", "list", "-g", plain.url, "--token", "t").exit_code == 0
    assert run(env, "ready", "-g", plain.url, "-k", "t", "--attempts", "1").exit_code == 0
    assert plain.seen == [("GET", "/system/secrets", "Bearer t"), ("GET", "/healthz", "Bearer t")]
    # login and logout talk basic auth or nothing: they take no token.
    assert run(env, "login", "-g", plain.url, "--token", "t").exit_code == 2


def test_self_signed_gateway_needs_tls_no_verify(
    self_signed: Recorder, env: dict[str, str]
) -> None:
    refused = run(env, "list", "-g", self_signed.url)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: TLS certificate of ")
    assert "--tls-no-verify" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert self_signed.seen == []
    assert run(env, "list", "-g", self_signed.url, "--tls-no-verify").exit_code == 0
    assert self_signed.seen == [("GET", "/system/functions", None)]


def test_invoke_over_tls_uses_the_same_flag(self_signed: Recorder, env: dict[str, str]) -> None:
    refused = run(env, "invoke", "fn", "-g", self_signed.url, stdin="x")
    assert refused.exit_code == 1
    assert "TLS certificate" in refused.stderr
    done = run(env, "invoke", "fn", "-g", self_signed.url, "--tls-no-verify", "-k", "t", stdin="x")
    assert done.exit_code == 0, done.stderr
    assert done.stdout == "hello"
    assert self_signed.seen == [("POST", "/function/fn.openfaas-fn", "Bearer t")]


def test_client_library_takes_the_same_choices(self_signed: Recorder) -> None:
    with GatewayClient(self_signed.url, ("u", "p"), 5) as client, pytest.raises(BadGateway):
        client.list_functions()
    with GatewayClient(self_signed.url, ("u", "p"), 5, token="t", verify=False) as client:
        assert client.list_functions() == []
        assert client.invoke("fn", b"x").body == b"hello"
    assert [auth for _, _, auth in self_signed.seen] == ["Bearer t", "Bearer t"]
