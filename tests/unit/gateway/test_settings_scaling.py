"""Gateway settings parsing and the autoscaler's CE semantics."""

from __future__ import annotations

import pytest

from pyfaas.errors import ConfigError
from pyfaas.gateway.autoscale import Autoscaler
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.providers.memory import MemoryProvider
from pyfaas.scale_labels import ScaleBounds
from tests.unit.gateway.conftest import deploy


def test_settings_defaults_and_names(tmp_path: object) -> None:
    s = GatewaySettings.from_env({"PYFAAS_HOME": "/tmp/h"})
    assert (s.port, s.bind, s.upstream_timeout) == (8080, "127.0.0.1", 60.0)
    assert s.queue_url == "sqlite:///tmp/h/queue.db"
    assert s.basic_auth
    assert s.scale_from_zero
    assert s.function_namespace == "openfaas-fn"
    s = GatewaySettings.from_env(
        {
            "PYFAAS_PORT": "0",
            "upstream_timeout": "1m30s",
            "PYFAAS_MAX_BODY": "2Mi",
            "basic_auth": "false",
            "PYFAAS_QUEUE": "memory://",
        }
    )
    assert (s.port, s.upstream_timeout, s.max_body) == (0, 90.0, 2 * 1024 * 1024)
    assert not s.basic_auth
    assert s.queue_url == "memory://"


def test_public_port_limits_defaults_and_names() -> None:
    limits = GatewaySettings.from_env({"PYFAAS_HOME": "/tmp/h"}).limits
    assert (limits.read_timeout, limits.write_timeout, limits.idle_timeout) == (10.0, 60.0, 75.0)
    assert (limits.max_header_bytes, limits.max_request_line_bytes) == (64 * 1024, 8 * 1024)
    assert limits.max_connections == 10_000
    limits = GatewaySettings.from_env(
        {
            "read_timeout": "2s",
            "write_timeout": "1m",
            "PYFAAS_IDLE_TIMEOUT": "30",
            "PYFAAS_MAX_HEADER_BYTES": "32Ki",
            "PYFAAS_MAX_REQUEST_LINE_BYTES": "4Ki",
            "PYFAAS_MAX_CONNECTIONS": "500",
        }
    ).limits
    assert (limits.read_timeout, limits.write_timeout, limits.idle_timeout) == (2.0, 60.0, 30.0)
    assert (limits.max_header_bytes, limits.max_request_line_bytes) == (32 * 1024, 4 * 1024)
    assert limits.max_connections == 500


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PYFAAS_PORT", "http"),
        ("upstream_timeout", "soon"),
        ("basic_auth", "yes please"),
        ("PYFAAS_MAX_BODY", "big"),
        ("function_namespace", "Bad_NS"),
        ("read_timeout", "forever"),
        ("PYFAAS_MAX_HEADER_BYTES", "10"),
        ("PYFAAS_MAX_REQUEST_LINE_BYTES", "8 KB please"),
        ("PYFAAS_MAX_CONNECTIONS", "0"),
        ("PYFAAS_IDLE_TIMEOUT", "a while"),
    ],
)
def test_bad_settings_name_key_and_value(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        GatewaySettings.from_env({key: value})


def test_scale_bounds() -> None:
    bounds = ScaleBounds.from_labels({"com.openfaas.scale.min": "1", "com.openfaas.scale.max": "2"})
    assert bounds.step_up(1) == 2
    assert bounds.step_up(2) == 2
    assert ScaleBounds.from_labels({}).step_up(1) == 2
    assert ScaleBounds.from_labels({"com.openfaas.scale.factor": "100"}).step_up(1) == 5


async def test_autoscaler_steps_up_under_load_and_back_to_min() -> None:
    provider = MemoryProvider()
    await deploy(provider, "busy", labels={"com.openfaas.scale.max": "3"})
    metrics = GatewayMetrics()
    now = [0.0]
    scaler = Autoscaler(provider, metrics, "openfaas-fn", clock=lambda: now[0])

    async def second(calls: int) -> None:
        for _ in range(calls):
            metrics.finish("busy.openfaas-fn", 200, 0.001)
        now[0] += 1
        await scaler.tick()

    for _ in range(8):
        await second(10)
    assert (await provider.get_function("busy", "openfaas-fn")).replicas == 2
    for _ in range(10):
        await second(10)
    assert (await provider.get_function("busy", "openfaas-fn")).replicas == 3
    for _ in range(12):
        await second(0)
    assert (await provider.get_function("busy", "openfaas-fn")).replicas == 1


async def test_autoscaler_leaves_quiet_and_zero_functions_alone() -> None:
    provider = MemoryProvider()
    await deploy(provider, "idle")
    await provider.scale("idle", "openfaas-fn", 0)
    metrics = GatewayMetrics()
    now = [0.0]
    scaler = Autoscaler(provider, metrics, "openfaas-fn", clock=lambda: now[0])
    for _ in range(15):
        metrics.finish("idle.openfaas-fn", 200, 0.001)
        now[0] += 1
        await scaler.tick()
    assert (await provider.get_function("idle", "openfaas-fn")).replicas == 0
