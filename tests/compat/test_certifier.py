"""The OpenFaaS certifier's tests, ported call for call, against a real ``pyfaas serve``.

Each test sends what the certifier (github.com/openfaas/certifier, with its
pinned 2022 faas-cli client) sends and asserts what it asserts, including the
Go-decoding rules its structs impose. Where the certifier sleeps for a fixed
time this port polls instead, with the certifier's own time limit. Tests run
in the certifier's order on one platform: the metadata test needs the
namespace to itself, as the certifier's Makefile arranges.

``Test_ScaleToZero`` runs as the certifier runs it with ``idler_enabled=true``:
the platform's idler scales a ``com.openfaas.scale.zero=true`` function to
zero after ``IDLE`` without calls (the gateway's default zero-duration), well
inside the certifier's two-minute cooldown.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.compat._support import (
    GO_AGENT,
    NAMESPACE,
    RFC3339,
    Gateway,
    Load,
    assert_go_status,
    deploy,
    deployment,
    invoke_until,
    running_gateway,
    status,
    wait_available,
)
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

IDLE = "10s"

SOME_JSON = '{\n  "key": "some-value",\n  "other": [1, 2]\n}\n'
METADATA_CASES: list[dict[str, Any]] = [
    # The pinned client sends nil maps as null; both spellings must deploy.
    deployment("stronghash", "sha512sum", labels=None, annotations=None),
    deployment(
        "env-test-labels",
        "env",
        labels={"upstream_uri": "example.com", "canary_build": "true"},
        annotations=None,
    ),
    deployment(
        "env-test-annotations",
        "env",
        labels=None,
        annotations={"important-date": "Fri Aug 10 08:21:44 BST 2018", "some-json": SOME_JSON},
    ),
    deployment(
        "memory-limit",
        "env",
        labels={},
        annotations={},
        limits={"memory": "5Mi", "cpu": "100m"},
    ),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    env = {"PYFAAS_SCALE_ZERO_DURATION": IDLE}
    with running_gateway(tmp_path_factory.mktemp("certifier"), GO_AGENT, env) as instance:
        yield instance


def _listed(gateway: Gateway) -> list[dict[str, Any]]:
    response = gateway.api.get("/system/functions", params={"namespace": NAMESPACE})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    items: list[dict[str, Any]] = response.json()
    for item in items:
        assert_go_status(item)
    return items


def _assert_matches(item: dict[str, Any], sent: dict[str, Any]) -> None:
    for key in ("name", "image", "namespace", "envProcess"):
        expected = sent["service"] if key == "name" else sent[key]
        assert item.get(key) == expected, key
    assert item.get("readOnlyRootFilesystem", False) is False
    assert "envVars" not in item  # Go would decode {} to a non-nil map
    assert not item.get("constraints")
    assert not item.get("secrets")
    assert "requests" not in item
    if sent.get("limits"):
        assert item["limits"]["memory"] == sent["limits"]["memory"]
        assert item["limits"]["cpu"] == sent["limits"]["cpu"]
    else:
        assert "limits" not in item
    assert item["labels"] == {**(sent["labels"] or {}), "faas_function": sent["service"]}
    assert (sent["annotations"] or {}).items() <= item["annotations"].items()


def test_deploy_metadata(gateway: Gateway) -> None:
    for leftover in _listed(gateway):  # the certifier's Makefile cleans first
        gateway.api.request("DELETE", "/system/functions", json={"functionName": leftover["name"]})
    for sent in METADATA_CASES:
        deploy(gateway, sent)
        # No retry: metadata must be there as soon as the deploy is accepted.
        found = status(gateway, sent["service"])
        _assert_matches(found, sent)
        assert type(found["replicas"]) is int
    listed = {item["name"]: item for item in _listed(gateway)}
    assert sorted(listed) == sorted(case["service"] for case in METADATA_CASES)
    for sent in METADATA_CASES:
        _assert_matches(listed[sent["service"]], sent)


def test_list_namespaces(gateway: Gateway) -> None:
    response = gateway.api.get("/system/namespaces")
    assert response.status_code == 200
    assert response.json() == [NAMESPACE]


def test_health_endpoint(gateway: Gateway) -> None:
    assert gateway.invoker.get("/healthz").status_code == 200


def test_provider_info(gateway: Gateway) -> None:
    response = gateway.api.get("/system/info")
    assert response.status_code == 200
    info = response.json()
    provider = info["provider"]
    for value in (
        provider["provider"],
        provider["orchestration"],
        provider["version"]["release"],
        provider["version"]["sha"],
        info["version"]["release"],
        info["version"]["sha"],
    ):
        assert isinstance(value, str)
        assert value


def test_invoke_not_found(gateway: Gateway) -> None:
    response = gateway.invoker.post(f"/function/.{NAMESPACE}")
    assert response.status_code in (404, 502)


@pytest.fixture(scope="module")
def verbs(gateway: Gateway) -> str:
    deploy(gateway, deployment("env-test-verbs", "env"))
    assert any(
        item["name"] == "env-test-verbs" and item["namespace"] == NAMESPACE
        for item in _listed(gateway)
    )
    assert status(gateway, "env-test-verbs")["image"] == deployment("x", "env")["image"]
    return f"/function/env-test-verbs.{NAMESPACE}"


@pytest.mark.parametrize("verb", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_invoke_verbs(gateway: Gateway, verbs: str, verb: str) -> None:
    response = invoke_until(gateway, verb, verbs)
    assert f"Http_Method={verb}" in response.text
    assert response.headers.get("X-Call-Id")
    assert response.headers.get("X-Start-Time")


def test_invoke_env_and_query(gateway: Gateway) -> None:
    body = deployment("env-test", "env", envVars={"custom_env": "custom_env_value"})
    deploy(gateway, body)
    plain = invoke_until(gateway, "POST", f"/function/env-test.{NAMESPACE}")
    assert "custom_env" in plain.text
    queried = invoke_until(gateway, "POST", f"/function/env-test.{NAMESPACE}?testing=1")
    assert "Http_Query=testing=1" in queried.text


def test_invoke_redirector_is_refused_clearly(gateway: Gateway) -> None:
    """The redirector image is a Go binary: without a container engine it cannot run."""
    body = deployment(
        "redirector-test",
        "./handler",
        image="docker.io/theaxer/redirector:latest",
        envVars={"destination": "http://example.com"},
    )
    response = gateway.api.post("/system/functions", json=body)
    assert response.status_code == 400
    assert "theaxer/redirector" in response.text
    assert len(response.text.strip().splitlines()) == 1
    assert (
        gateway.api.get(f"/system/function/redirector-test?namespace={NAMESPACE}").status_code
        == 404
    )


def _log_messages(gateway: Gateway) -> list[dict[str, Any]]:
    response = gateway.api.get(
        "/system/logs", params={"name": "test-logger", "namespace": NAMESPACE, "follow": "false"}
    )
    assert response.status_code == 200
    return [json.loads(line) for line in response.text.splitlines() if line]


def _has_prefix(messages: list[dict[str, Any]], prefix: str) -> bool:
    return any(m["text"].lstrip("0123456789/: ").startswith(prefix) for m in messages)


def test_function_logs(gateway: Gateway) -> None:
    deploy(gateway, deployment("test-logger", "cat"))
    wait_available(gateway, "test-logger")
    # The body is sent once: the certifier's retries would send it empty.
    response = gateway.invoker.post(f"/function/test-logger.{NAMESPACE}", content=NAMESPACE)
    assert response.status_code == 200
    assert response.text == NAMESPACE
    # The certifier sleeps 30 s; polling within the same limit is equivalent.
    wait_for(lambda: _has_prefix(_log_messages(gateway), "Wrote 11 Bytes"), timeout=30)
    messages = _log_messages(gateway)
    for message in messages:
        assert message["name"] == "test-logger"
        assert message["namespace"] == NAMESPACE
        assert RFC3339.match(message["timestamp"]), message["timestamp"]
    assert _has_prefix(messages, "Forking fprocess")
    assert _has_prefix(messages, f"Wrote {len(NAMESPACE)} Bytes")


def _delete_old_client(gateway: Gateway, name: str) -> None:
    response = gateway.api.request(
        "DELETE", f"/system/functions?namespace={NAMESPACE}", json={"functionName": name}
    )
    assert response.status_code in (200, 202)


def test_scale_minimum(gateway: Gateway) -> None:
    labels = {"com.openfaas.scale.min": "2"}
    deploy(gateway, deployment("test-min-scale", "sha512sum", labels=labels))
    assert status(gateway, "test-min-scale")["replicas"] == 2
    _delete_old_client(gateway, "test-min-scale")


def test_scale_from_zero_during_invoke(gateway: Gateway) -> None:
    name = "test-scale-from-zero"
    deploy(gateway, deployment(name, "sha512sum"))
    wait_available(gateway, name)
    response = gateway.api.post(
        f"/system/scale-function/{name}?namespace={NAMESPACE}",
        json={"serviceName": name, "replicas": 0},
    )
    assert response.status_code in (200, 201, 202)
    assert status(gateway, name).get("replicas", 0) == 0
    invoke_until(gateway, "POST", f"/function/{name}.{NAMESPACE}")
    assert status(gateway, name)["replicas"] >= 1
    _delete_old_client(gateway, name)


def test_scaling_disabled_via_labels(gateway: Gateway) -> None:
    """min = max = 2: load that would scale a function up leaves it at 2."""
    name = "test-scaling-disabled"
    labels = {"com.openfaas.scale.min": "2", "com.openfaas.scale.max": "2"}
    deploy(gateway, deployment(name, "sha512sum", labels=labels))
    wait_available(gateway, name)
    # Long enough for the autoscaler's alert to fire (over 5 rps held for 5 s).
    codes = Load(gateway.url, f"/function/{name}", workers=2, rate=5, seconds=8).join()
    assert codes
    assert set(codes) == {200}
    assert status(gateway, name)["replicas"] == 2
    _delete_old_client(gateway, name)


def _replicas(gateway: Gateway, name: str) -> int:
    value: int = status(gateway, name).get("replicas", 0)
    return value


def test_scale_up_and_down_from_throughput(gateway: Gateway) -> None:
    name = "test-throughput-scaling"
    labels = {"com.openfaas.scale.min": "1", "com.openfaas.scale.max": "2"}
    deploy(gateway, deployment(name, "sha512sum", labels=labels))
    wait_available(gateway, name)
    # The certifier's load: 2 workers x 5 QPS, no namespace suffix, no keep-alive.
    load = Load(gateway.url, f"/function/{name}", workers=2, rate=5, seconds=60)
    wait_for(lambda: _replicas(gateway, name) >= 2, timeout=60, interval=1)
    assert _replicas(gateway, name) == 2
    codes = load.stop()
    assert codes
    assert set(codes) == {200}
    wait_for(lambda: _replicas(gateway, name) <= 1, timeout=60, interval=1)
    assert _replicas(gateway, name) == 1
    _delete_old_client(gateway, name)


def test_scale_to_zero(gateway: Gateway) -> None:
    name = "test-scaling-to-zero"
    labels = {"com.openfaas.scale.max": "2", "com.openfaas.scale.zero": "true"}
    deploy(gateway, deployment(name, "sha512sum", labels=labels))
    wait_available(gateway, name)
    # Load without keep-alive, as the certifier's, until max scale rather than a fixed count.
    load = Load(gateway.url, f"/function/{name}", workers=5, rate=10, seconds=60)
    wait_for(lambda: _replicas(gateway, name) >= 2, timeout=60, interval=1)
    assert _replicas(gateway, name) == 2
    codes = load.stop()
    assert codes
    assert set(codes) == {200}
    # The certifier's cooldown is two minutes.
    wait_for(lambda: _replicas(gateway, name) == 0, timeout=120, interval=1)
    wait_for(lambda: status(gateway, name).get("availableReplicas", 0) == 0, 60, 0.5)
    # Scaled to zero by the idler, it comes back for the next call, which is held.
    response = gateway.invoker.post(f"/function/{name}", content=b"")
    assert response.status_code == 200, response.text
    assert _replicas(gateway, name) >= 1
    _delete_old_client(gateway, name)


SECRET_CASES = [
    pytest.param("secret-string", {"value": "this is a secret"}, "query", id="secret-string"),
    pytest.param(
        "secret-bytes",
        {"rawValue": base64.b64encode(b"raw \x00\xfe bytes").decode()},
        "body",
        id="secret-bytes",
    ),
]


def _secret_names(gateway: Gateway) -> list[str]:
    response = gateway.api.get("/system/secrets", params={"namespace": NAMESPACE})
    assert response.status_code in (200, 202)
    return [entry["name"] for entry in response.json()]


def _expected(value: dict[str, str]) -> bytes:
    return value["value"].encode() if "value" in value else base64.b64decode(value["rawValue"])


@pytest.mark.parametrize(("name", "value", "delete_form"), SECRET_CASES)
def test_secret_crud(gateway: Gateway, name: str, value: dict[str, str], delete_form: str) -> None:
    assert name not in _secret_names(gateway)
    secret = {"name": name, "namespace": NAMESPACE, **value}
    assert gateway.api.post("/system/secrets", json=secret).status_code in (200, 201, 202)
    function = deployment(name, f"cat /var/openfaas/secrets/{name}", secrets=[name], annotations={})
    deploy(gateway, function)
    path = f"/function/{name}.{NAMESPACE}"
    assert invoke_until(gateway, "POST", path).content == _expected(value)
    assert name in _secret_names(gateway)

    updated = {"name": name, "namespace": NAMESPACE, "value": f"updated {name}"}
    assert gateway.api.put("/system/secrets", json=updated).status_code in (200, 202)
    function["annotations"] = {"secret-hash": "v2"}
    assert gateway.api.put("/system/functions", json=function).status_code in (200, 202)
    wait_for(lambda: gateway.invoker.post(path).content == updated["value"].encode(), 10, 0.1)

    if delete_form == "query":
        _delete_old_client(gateway, name)
    else:
        body = {"functionName": name, "namespace": NAMESPACE}
        assert gateway.api.request("DELETE", "/system/functions", json=body).status_code in (
            200,
            202,
        )
    deleted = gateway.api.request("DELETE", "/system/secrets", json=updated)
    assert deleted.status_code in (200, 202)
    assert name not in _secret_names(gateway)
