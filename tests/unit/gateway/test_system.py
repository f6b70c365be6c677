"""The /system function API, info, namespaces, health and the UI redirect."""

from __future__ import annotations

import io
import re

from aiohttp import ClientSession

from pyfaas.providers.memory import MemoryProvider
from tests.unit.gateway.conftest import AUTH

Client = ClientSession
DEPLOY = {
    "service": "env-test-labels",
    "image": "docker.io/functions/alpine:latest",
    "namespace": "openfaas-fn",
    "envProcess": "env",
    "labels": {"canary_build": "true"},
    "annotations": {},
}


async def test_deploy_then_status_follows_go_rules(client: Client) -> None:
    resp = await client.post("/system/functions", json=DEPLOY, headers=AUTH)
    assert resp.status == 202
    assert await resp.read() == b""
    resp = await client.get(
        "/system/function/env-test-labels?namespace=openfaas-fn&usage=1", headers=AUTH
    )
    assert resp.status == 200
    assert resp.content_type == "application/json"
    status = await resp.json()
    assert status["labels"] == {"canary_build": "true", "faas_function": "env-test-labels"}
    assert status["annotations"] == {}
    assert "envVars" not in status
    assert "limits" not in status
    assert "requests" not in status
    assert status["replicas"] == 1
    assert isinstance(status["replicas"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status["createdAt"])
    assert status["namespace"] == "openfaas-fn"
    assert status["envProcess"] == "env"


async def test_null_labels_are_accepted(client: Client) -> None:
    body = {"service": "n", "image": "i", "labels": None, "annotations": None}
    resp = await client.post("/system/functions", json=body, headers=AUTH)
    assert resp.status == 202
    status = await (await client.get("/system/function/n", headers=AUTH)).json()
    assert status["labels"] == {"faas_function": "n"}
    assert status["annotations"] == {}


async def test_duplicate_deploy_is_409(client: Client) -> None:
    assert (await client.post("/system/functions", json=DEPLOY, headers=AUTH)).status == 202
    assert (await client.post("/system/functions", json=DEPLOY, headers=AUTH)).status == 409


async def test_bad_deploy_bodies_are_400(client: Client) -> None:
    cases: list[bytes] = [
        b"{not json",
        b"[]",
        b'{"service": "x", "image": 5}',
        b'{"service": "Bad_Name", "image": "i"}',
        b'{"service": "x", "image": ""}',
        b'{"service": "x"}',
        b"",
        ("[" * 100 + "]" * 100)
        .join([b'{"service":"x","image":"i","labels":'.decode(), "}"])
        .encode(),
    ]
    for body in cases:
        resp = await client.post("/system/functions", data=body, headers=AUTH)
        assert resp.status == 400, body[:40]
        assert (await resp.text()).count("\n") == 1


async def test_unknown_namespace_is_400(client: Client) -> None:
    body = dict(DEPLOY, namespace="elsewhere")
    resp = await client.post("/system/functions", json=body, headers=AUTH)
    assert resp.status == 400
    assert "namespace not valid" in await resp.text()


async def test_update_missing_is_404_then_ok(client: Client) -> None:
    assert (await client.put("/system/functions", json=DEPLOY, headers=AUTH)).status == 404
    await client.post("/system/functions", json=DEPLOY, headers=AUTH)
    changed = dict(DEPLOY, image="other:1")
    assert (await client.put("/system/functions", json=changed, headers=AUTH)).status == 202
    status = await (await client.get("/system/function/env-test-labels", headers=AUTH)).json()
    assert status["image"] == "other:1"


async def test_list_functions(client: Client) -> None:
    resp = await client.get("/system/functions", headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == []
    await client.post("/system/functions", json=DEPLOY, headers=AUTH)
    listed = await (
        await client.get("/system/functions?namespace=openfaas-fn", headers=AUTH)
    ).json()
    assert [f["name"] for f in listed] == ["env-test-labels"]


async def test_delete_with_namespace_in_query_or_body(client: Client) -> None:
    for name in ("a", "b"):
        body = {"service": name, "image": "i"}
        await client.post("/system/functions", json=body, headers=AUTH)
    resp = await client.delete(
        "/system/functions?namespace=openfaas-fn", json={"functionName": "a"}, headers=AUTH
    )
    assert resp.status == 202
    resp = await client.delete(
        "/system/functions", json={"functionName": "b", "namespace": "openfaas-fn"}, headers=AUTH
    )
    assert resp.status == 202
    resp = await client.delete("/system/functions", json={"functionName": "b"}, headers=AUTH)
    assert resp.status == 404


async def test_status_of_unknown_function_is_404(client: Client) -> None:
    assert (await client.get("/system/function/nope", headers=AUTH)).status == 404


async def test_scale_to_zero_and_back(client: Client, provider: MemoryProvider) -> None:
    await client.post("/system/functions", json=DEPLOY, headers=AUTH)
    resp = await client.post(
        "/system/scale-function/env-test-labels?namespace=openfaas-fn",
        json={"serviceName": "env-test-labels", "replicas": 0},
        headers=AUTH,
    )
    assert resp.status == 202
    assert (await provider.get_function("env-test-labels", "openfaas-fn")).replicas == 0
    status = await (await client.get("/system/function/env-test-labels", headers=AUTH)).json()
    assert "replicas" not in status
    resp = await client.post(
        "/system/scale-function/env-test-labels",
        json={"serviceName": "env-test-labels", "replicas": 2, "namespace": "openfaas-fn"},
        headers=AUTH,
    )
    assert resp.status == 202
    assert (await provider.get_function("env-test-labels", "openfaas-fn")).replicas == 2


async def test_scale_errors(client: Client) -> None:
    body = {"serviceName": "ghost", "replicas": 1}
    assert (
        await client.post("/system/scale-function/ghost", json=body, headers=AUTH)
    ).status == 404
    bad = {"serviceName": "ghost", "replicas": -1}
    assert (await client.post("/system/scale-function/ghost", json=bad, headers=AUTH)).status == 400
    resp = await client.post("/system/scale-function/ghost", data=b"nope", headers=AUTH)
    assert resp.status == 400


async def test_scale_min_label_sets_replicas(client: Client) -> None:
    body = {"service": "m", "image": "i", "labels": {"com.openfaas.scale.min": "2"}}
    await client.post("/system/functions", json=body, headers=AUTH)
    status = await (await client.get("/system/function/m", headers=AUTH)).json()
    assert status["replicas"] == 2


async def test_info_has_non_empty_versions(client: Client) -> None:
    info = await (await client.get("/system/info", headers=AUTH)).json()
    assert info["provider"]["provider"]
    assert info["provider"]["orchestration"]
    assert info["provider"]["version"]["release"]
    assert info["provider"]["version"]["sha"]
    assert info["version"]["release"]
    assert info["version"]["sha"]
    assert info["arch"]


async def test_namespaces(client: Client) -> None:
    assert await (await client.get("/system/namespaces", headers=AUTH)).json() == ["openfaas-fn"]


async def test_healthz_root_and_ui(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.text() == "OK"
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 307
    assert resp.headers["Location"] == "/ui/"
    assert (await client.get("/ui/")).status == 200  # the shell; the page asks for credentials
    await client.post("/system/functions", json=DEPLOY, headers=AUTH)
    resp = await client.get("/ui/", headers=AUTH)
    assert resp.status == 200
    assert "env-test-labels" in await resp.text()


async def test_unknown_route_and_wrong_method(client: Client) -> None:
    resp = await client.get("/nowhere")
    assert resp.status == 404
    assert (await resp.text()).count("\n") == 1
    resp = await client.patch("/system/functions", headers=AUTH)
    assert resp.status == 405
    assert (await resp.text()).count("\n") == 1
    assert "GET" in resp.headers["Allow"]
    resp = await client.get("/async-function/x")
    assert resp.status == 405


async def test_system_body_is_bounded(client: Client) -> None:
    body = b'{"service":"x","image":"' + b"i" * (2 * 1024 * 1024) + b'"}'
    resp = await client.post("/system/functions", data=io.BytesIO(body), headers=AUTH)
    assert resp.status == 413


async def test_openapi_description_is_served(client: Client) -> None:
    resp = await client.get("/system/openapi.yml", headers=AUTH)
    assert resp.status == 200
    assert "openapi:" in await resp.text()
