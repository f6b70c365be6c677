"""/metrics has OpenFaaS's gateway families (CE and Pro names); prometheus_client reads it."""

from __future__ import annotations

from aiohttp import ClientSession
from prometheus_client.parser import text_string_to_metric_families

from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.providers.memory import MemoryProvider
from tests.unit.gateway.conftest import deploy

Client = ClientSession
FN = "echo.openfaas-fn"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_pro_service_gauges_follow_the_labels(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo", labels={"com.openfaas.scale.min": "2"})
    await deploy(
        provider,
        "tuned",
        labels={"com.openfaas.scale.target": "7.5", "com.openfaas.scale.min": "0"},
    )
    samples = _samples(await (await client.get("/metrics")).text())
    tuned = (("function_name", "tuned.openfaas-fn"),)
    echo = (("function_name", FN),)
    assert samples[("gateway_service_count", echo)] == 2.0
    assert samples[("gateway_service_ready_count", echo)] == 2.0
    assert samples[("gateway_service_min", echo)] == 2.0
    assert samples[("gateway_service_target", echo)] == 50.0
    assert samples[("gateway_service_target", tuned)] == 7.5
    assert samples[("gateway_service_min", tuned)] == 1.0


async def test_every_family_parses_and_counts_move(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    await client.post("/function/echo", data=b"x")
    await client.get("/function/echo/status?code=503")
    samples = _samples(await (await client.get("/metrics")).text())
    label = (("function_name", FN),)
    assert samples[("gateway_function_invocation_total", (("code", "200"), *label))] == 1.0
    assert samples[("gateway_function_invocation_total", (("code", "503"), *label))] == 1.0
    # Written without "_total", as OpenFaaS does; the parser names the sample with it.
    assert samples[("gateway_function_invocation_started_total", label)] == 2.0
    assert samples[("gateway_function_invocation_inflight", label)] == 0.0
    assert samples[("gateway_functions_seconds_count", (("code", "200"), *label))] == 1.0


def test_inflight_is_started_less_completed() -> None:
    metrics = GatewayMetrics()
    for _ in range(3):
        metrics.start("a.ns")
    metrics.finish("a.ns", 200, 0.1)
    metrics.finish("a.ns", 500, 0.1)
    metrics.start("b.ns")
    assert metrics.inflight() == {"a.ns": 1, "b.ns": 1}
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    inflight = families["gateway_function_invocation_inflight"]
    assert inflight.type == "gauge"
    assert {s.labels["function_name"]: s.value for s in inflight.samples} == {"a.ns": 1, "b.ns": 1}
    assert families["gateway_function_invocation_started"].type == "counter"
