"""faas-cli's own HTTP call sequences, replayed against a real ``pyfaas serve``.

faas-cli is a Go binary that cannot be installed here, so each test sends
exactly what a faas-cli command sends (method, path, query, headers, JSON
body, and the follow-up call it makes on a given status) and accepts only
the statuses faas-cli accepts. The gateway runs with basic auth on, as
OpenFaaS does by default.
"""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from tests.compat._support import (
    FAAS_CLI_AGENT,
    NAMESPACE,
    Gateway,
    deployment,
    invoke_until,
    running_gateway,
    status,
)
from tests.helpers import CallbackReceiver, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("faas-cli"), FAAS_CLI_AGENT) as instance:
        yield instance


def cli_deploy(gateway: Gateway, body: dict[str, Any], *, replace: bool = False) -> list[int]:
    """``faas-cli deploy``: PUT, then POST on 404; ``--replace``: DELETE, then POST."""
    seen: list[int] = []
    if replace:
        remove = {"functionName": body["service"], "namespace": body.get("namespace", "")}
        seen.append(gateway.api.request("DELETE", "/system/functions", json=remove).status_code)
    else:
        seen.append(gateway.api.put("/system/functions", json=body).status_code)
        if seen[-1] != 404:
            return seen
    seen.append(gateway.api.post("/system/functions", json=body).status_code)
    return seen


def test_deploy_is_put_then_post_then_put(gateway: Gateway) -> None:
    body = deployment("wire-env", "env", envVars={"stage": "one"}, labels={}, annotations={})
    first = cli_deploy(gateway, body)
    assert first[0] == 404
    assert first[1] in (200, 202)
    body["envVars"] = {"stage": "two"}
    again = cli_deploy(gateway, body)
    assert len(again) == 1
    assert again[0] in (200, 202)
    assert status(gateway, "wire-env")["envVars"] == {"stage": "two"}
    # `--update=false` posts straight away: a duplicate is a non-2xx, never success.
    assert gateway.api.post("/system/functions", json=body).status_code == 409


def test_deploy_replace_is_delete_then_post(gateway: Gateway) -> None:
    body = deployment("wire-replace", "cat")
    first = cli_deploy(gateway, body, replace=True)
    assert first[0] == 404
    assert first[1] in (200, 202)
    codes = cli_deploy(gateway, body, replace=True)
    assert codes[0] in (200, 202)
    assert codes[1] in (200, 202)
    assert status(gateway, "wire-replace")["image"] == body["image"]


def test_remove_new_and_legacy_forms(gateway: Gateway) -> None:
    for name in ("wire-rm-new", "wire-rm-old"):
        assert cli_deploy(gateway, deployment(name, "cat"))[-1] in (200, 202)
    new = {"functionName": "wire-rm-new", "namespace": NAMESPACE}
    assert gateway.api.request("DELETE", "/system/functions", json=new).status_code in (200, 202)
    old = gateway.api.request(
        "DELETE", f"/system/functions?namespace={NAMESPACE}", json={"functionName": "wire-rm-old"}
    )
    assert old.status_code in (200, 202)
    # "No existing function to remove" is faas-cli's reading of a 404.
    assert gateway.api.request("DELETE", "/system/functions", json=new).status_code == 404


def test_list_and_describe(gateway: Gateway) -> None:
    cli_deploy(gateway, deployment("wire-list", "cat"))
    for params in ({}, {"namespace": NAMESPACE}):
        listed = gateway.api.get("/system/functions", params=params)
        assert listed.status_code == 200
        assert "wire-list" in [item["name"] for item in listed.json()]
    described = gateway.api.get(
        "/system/function/wire-list", params={"namespace": NAMESPACE, "usage": "1"}
    )
    assert described.status_code == 200
    assert described.json()["name"] == "wire-list"
    missing = gateway.api.get("/system/function/nope", params={"namespace": NAMESPACE})
    assert missing.status_code == 404  # describe prints "no such function"


def test_invoke_with_empty_bearer_is_not_rejected(gateway: Gateway) -> None:
    """faas-cli with no saved entry sets ``Authorization: Bearer `` — /function is open."""
    cli_deploy(gateway, deployment("wire-cat", "cat"))
    # Go's header writer trims the value, so the wire carries "Bearer" alone.
    headers = {"Content-Type": "text/plain", "Authorization": "Bearer"}
    response = gateway.invoker.post(
        f"/function/wire-cat.{NAMESPACE}?a=1&b=2", content=b"hello", headers=headers
    )
    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.headers["Content-Type"].startswith("text/plain")
    denied = gateway.invoker.get("/system/functions", headers={"Authorization": "Bearer"})
    assert denied.status_code == 401


def test_invoke_async_is_accepted_and_runs(gateway: Gateway) -> None:
    cli_deploy(gateway, deployment("wire-async", "cat"))
    receiver = CallbackReceiver()
    try:
        response = gateway.invoker.post(
            f"/async-function/wire-async.{NAMESPACE}",
            content=b"later",
            headers={"Content-Type": "text/plain", "X-Callback-Url": receiver.url},
        )
        assert response.status_code == 202
        call_id = response.headers["X-Call-Id"]
        assert call_id
        wait_for(lambda: bool(receiver.received), timeout=30, interval=0.05)
        headers, body = receiver.received[0]
        assert body == b"later"
        assert headers["X-Call-Id"] == call_id
        assert headers["X-Function-Status"] == "200"
    finally:
        receiver.close()


def _secret_names(gateway: Gateway) -> list[str]:
    response = gateway.api.get("/system/secrets", params={"namespace": NAMESPACE})
    assert response.status_code in (200, 202)
    entries = response.json()
    assert all(set(entry) == {"name", "namespace"} for entry in entries)  # never values
    return [entry["name"] for entry in entries]


def test_secret_create_replace_and_remove(gateway: Gateway) -> None:
    # `secret create --from-file` sends the bytes as rawValue and as value.
    raw = b"s3cr3t"
    body = {
        "name": "wire-key",
        "namespace": NAMESPACE,
        "value": raw.decode(),
        "rawValue": base64.b64encode(raw).decode(),
    }
    assert gateway.api.post("/system/secrets", json=body).status_code in (200, 201, 202)
    assert gateway.api.post("/system/secrets", json=body).status_code == 409
    replaced = dict(body, value="n3w", rawValue=base64.b64encode(b"n3w").decode())
    assert gateway.api.put("/system/secrets", json=replaced).status_code in (200, 202)
    assert "wire-key" in _secret_names(gateway)
    remove = {"name": "wire-key", "namespace": NAMESPACE}
    assert gateway.api.request("DELETE", "/system/secrets", json=remove).status_code in (200, 202)
    assert "wire-key" not in _secret_names(gateway)
    assert gateway.api.request("DELETE", "/system/secrets", json=remove).status_code == 404
    assert gateway.api.put("/system/secrets", json=replaced).status_code == 404


def _logs(gateway: Gateway, **params: str) -> httpx.Response:
    query = {"name": "wire-logs", "namespace": NAMESPACE, "tail": "-1", **params}
    return gateway.api.get("/system/logs", params=query, timeout=10)


@pytest.fixture(scope="module")
def logged(gateway: Gateway) -> str:
    cli_deploy(gateway, deployment("wire-logs", "cat"))
    invoke_until(gateway, "POST", f"/function/wire-logs.{NAMESPACE}", content=b"x")
    wait_for(lambda: "Wrote 1 Bytes" in _logs(gateway, follow="false").text, 30, 0.1)
    return "wire-logs"


@pytest.mark.parametrize("follow", ["false", "0", "f", "False"])
def test_logs_without_follow_end(gateway: Gateway, logged: str, follow: str) -> None:
    response = _logs(gateway, follow=follow)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    messages = [json.loads(line) for line in response.text.splitlines()]
    assert messages
    assert all(m["name"] == logged for m in messages)


def test_logs_since(gateway: Gateway, logged: str) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert _logs(gateway, follow="false", since=past).text.strip()
    assert _logs(gateway, follow="false", since=future).text == ""
    bad = _logs(gateway, follow="false", since="yesterday")
    assert bad.status_code == 422


@pytest.mark.parametrize("follow", ["true", "1"])
def test_logs_follow_streams(gateway: Gateway, logged: str, follow: str) -> None:
    query = {"name": logged, "namespace": NAMESPACE, "tail": "1", "follow": follow}
    with gateway.api.stream("GET", "/system/logs", params=query, timeout=10) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert json.loads(next(lines))["name"] == logged
        invoke_until(gateway, "POST", f"/function/{logged}.{NAMESPACE}", content=b"ping")
        # The stream stays open and carries lines written after it began.
        assert any("Forking fprocess" in json.loads(line)["text"] for line in lines)


def test_login_checks_basic_auth(gateway: Gateway) -> None:
    user, password = gateway.platform.auth()
    agent = {"User-Agent": FAAS_CLI_AGENT}
    good = httpx.get(f"{gateway.url}/system/functions", auth=(user, password), headers=agent)
    assert good.status_code == 200
    bad = httpx.get(f"{gateway.url}/system/functions", auth=(user, "wrong"), headers=agent)
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == 'Basic realm="Restricted"'


def test_version_and_namespace_list(gateway: Gateway) -> None:
    info = gateway.api.get("/system/info")
    assert info.status_code == 200
    data = info.json()
    for version in (data["version"], data["provider"]["version"]):
        assert version["release"]
        assert version["sha"]
    assert data["provider"]["provider"]
    assert data["provider"]["orchestration"]
    namespaces = gateway.api.get("/system/namespaces")
    assert namespaces.status_code == 200
    assert namespaces.json() == [NAMESPACE]


def test_login_writes_a_config_faas_cli_reads(gateway: Gateway) -> None:
    """faas-cli decodes config.yml into ``ConfigFile{AuthConfigs []AuthConfig `yaml:"auths"`}``."""
    platform = gateway.platform
    user, password = platform.auth()
    platform.cli(
        "login", "-g", platform.url, "-u", user, "--password-stdin", stdin=password.encode()
    )
    path = platform.home.parent / "openfaas-config" / "config.yml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert set(data) == {"auths"}
    entry = next(e for e in data["auths"] if e["gateway"] == platform.url)
    assert entry["auth"] == "basic"
    token = base64.b64decode(entry["token"], validate=True).decode()
    assert token.split(":", 1) == [user, password]
    # And what faas-cli then sends with it is accepted.
    saved = {"Authorization": f"Basic {entry['token']}", "User-Agent": FAAS_CLI_AGENT}
    assert httpx.get(f"{platform.url}/system/functions", headers=saved).status_code == 200


def test_deploy_without_namespace_and_sdk_scale(gateway: Gateway) -> None:
    """``namespace`` is omitted when ``-n`` is not given; go-sdk scales with it in the body."""
    body = deployment("wire-scale", "cat")
    del body["namespace"]
    codes = cli_deploy(gateway, body)
    assert codes[-1] in (200, 202)
    assert status(gateway, "wire-scale")["namespace"] == NAMESPACE
    scale = {"serviceName": "wire-scale", "replicas": 2, "namespace": NAMESPACE}
    response = gateway.api.post("/system/scale-function/wire-scale", json=scale)
    assert response.status_code in (200, 202)
    assert status(gateway, "wire-scale")["replicas"] == 2
    unknown = gateway.api.post("/system/scale-function/nope", json=dict(scale, serviceName="nope"))
    assert unknown.status_code == 404


def test_secret_list_without_namespace(gateway: Gateway) -> None:
    body = {"name": "wire-plain", "value": "v"}  # `secret create` without -n
    assert gateway.api.post("/system/secrets", json=body).status_code in (200, 201, 202)
    listed = gateway.api.get("/system/secrets")
    assert listed.status_code in (200, 202)
    assert {"name": "wire-plain", "namespace": NAMESPACE} in listed.json()
    remove = gateway.api.request("DELETE", "/system/secrets", json={"name": "wire-plain"})
    assert remove.status_code in (200, 202)


def test_namespace_get_and_unsupported_changes(gateway: Gateway) -> None:
    found = gateway.api.get(f"/system/namespace/{NAMESPACE}")
    assert found.status_code == 200
    assert found.json()["name"] == NAMESPACE
    assert gateway.api.get("/system/namespace/elsewhere").status_code == 404
    created = gateway.api.post("/system/namespace/", json={"name": "team-a"})
    assert created.status_code == 501
    assert "not implemented" in created.text
