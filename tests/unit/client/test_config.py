"""Gateway precedence and the faas-cli config file, byte for byte as faas-cli keeps it."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
import yaml

from pyfaas.client.config import (
    config_path,
    is_local,
    lookup_auth,
    normalise_gateway,
    remove_auth,
    resolve_gateway,
    save_auth,
)
from pyfaas.errors import ConfigError


def test_precedence_flag_stack_env_default() -> None:
    env = {"OPENFAAS_URL": "http://env:8080"}
    assert resolve_gateway("http://flag:1", "http://stack:2", env) == "http://flag:1"
    assert resolve_gateway(None, "http://stack:2", env) == "http://stack:2"
    assert resolve_gateway(None, None, env) == "http://env:8080"
    assert resolve_gateway(None, None, {}) == "http://127.0.0.1:8080"
    assert resolve_gateway("", "", {"OPENFAAS_URL": ""}) == "http://127.0.0.1:8080"


def test_normalisation() -> None:
    assert normalise_gateway("GW.Example.COM:8080/") == "http://gw.example.com:8080"
    assert normalise_gateway("https://h/") == "https://h"


def test_local_gateways() -> None:
    assert is_local("http://127.0.0.1:8080")
    assert is_local("http://localhost:31112")
    assert not is_local("http://gw.example.com:8080")


def test_config_location(tmp_path: Path) -> None:
    assert config_path({"OPENFAAS_CONFIG": str(tmp_path)}) == tmp_path / "config.yml"
    assert config_path({"HOME": str(tmp_path)}) == tmp_path / ".openfaas" / "config.yml"
    assert config_path({"HOME": str(tmp_path), "CI": "true"}) == Path(".openfaas/config.yml")


def test_save_writes_faas_cli_format_privately(tmp_path: Path) -> None:
    env = {"OPENFAAS_CONFIG": str(tmp_path / "cfg")}
    path = save_auth(env, "http://127.0.0.1:8080/", "admin", "pw:with:colons")
    data = yaml.safe_load(path.read_text())
    token = base64.b64encode(b"admin:pw:with:colons").decode()
    assert data == {
        "auths": [{"gateway": "http://127.0.0.1:8080", "auth": "basic", "token": token}]
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert lookup_auth(env, "127.0.0.1:8080") == ("admin", "pw:with:colons")


def test_save_replaces_entry_and_keeps_others(tmp_path: Path) -> None:
    env = {"OPENFAAS_CONFIG": str(tmp_path)}
    (tmp_path / "config.yml").write_text(
        "authconfigs:\n- gateway: http://other:8080\n  auth: oauth2\n  token: abc\n"
        "  options: {x: y}\n"
    )
    save_auth(env, "http://gw:8080", "a", "1")
    save_auth(env, "http://gw:8080", "b", "2")
    data = yaml.safe_load((tmp_path / "config.yml").read_text())
    assert [e["gateway"] for e in data["auths"]] == ["http://other:8080", "http://gw:8080"]
    assert data["auths"][0]["options"] == {"x": "y"}
    assert lookup_auth(env, "http://gw:8080") == ("b", "2")
    assert lookup_auth(env, "http://other:8080") is None  # not basic auth
    assert remove_auth(env, "http://gw:8080") is True
    assert remove_auth(env, "http://gw:8080") is False
    assert lookup_auth(env, "http://gw:8080") is None


def test_bad_token_is_a_config_error(tmp_path: Path) -> None:
    env = {"OPENFAAS_CONFIG": str(tmp_path)}
    (tmp_path / "config.yml").write_text(
        "auths:\n- gateway: http://gw:8080\n  auth: basic\n  token: '!!'\n"
    )
    with pytest.raises(ConfigError, match="token"):
        lookup_auth(env, "http://gw:8080")
