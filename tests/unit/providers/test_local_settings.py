"""Local provider settings and the scaling labels."""

from __future__ import annotations

import pytest

from pyfaas.errors import ConfigError
from pyfaas.providers.local import LocalProviderSettings
from pyfaas.scale_labels import desired_replicas, max_replicas, min_replicas


def test_defaults() -> None:
    settings = LocalProviderSettings.from_env({})
    assert settings.default_namespace == "openfaas-fn"
    assert settings.watchdog_images == ("functions/alpine", "ghcr.io/openfaas/alpine")
    assert settings.sandbox == "auto"
    assert settings.max_replicas == 20
    assert settings.log_max_bytes == 10 * 1024 * 1024


def test_values_from_the_environment() -> None:
    settings = LocalProviderSettings.from_env(
        {
            "function_namespace": "fns",
            "PYFAAS_WATCHDOG_IMAGES": "functions/alpine, acme/watchdog ",
            "PYFAAS_SANDBOX": "off",
            "PYFAAS_REPLICA_STOP_TIMEOUT": "1500ms",
            "PYFAAS_LOG_MAX_SIZE": "1Mi",
            "PATH": "/opt/bin:/usr/bin",
        }
    )
    assert settings.default_namespace == "fns"
    assert settings.watchdog_images == ("functions/alpine", "acme/watchdog")
    assert settings.sandbox == "off"
    assert settings.stop_timeout == 1.5
    assert settings.log_max_bytes == 1024 * 1024
    assert settings.host_path == "/opt/bin:/usr/bin"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PYFAAS_SANDBOX", "sometimes"),
        ("function_namespace", "Not_Valid"),
        ("PYFAAS_REPLICA_START_TIMEOUT", "soon"),
        ("PYFAAS_MAX_REPLICAS", "0"),
    ],
)
def test_bad_values_name_key_and_value(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        LocalProviderSettings.from_env({key: value})
    assert key in caught.value.message
    assert value in caught.value.message


def test_scaling_labels() -> None:
    assert min_replicas({}) is None
    assert min_replicas({"com.openfaas.scale.min": "0"}) is None
    assert min_replicas({"com.openfaas.scale.min": "3"}) == 3
    assert desired_replicas(None, 20) == 1
    assert desired_replicas({"com.openfaas.scale.min": "2"}, 20) == 2
    assert desired_replicas({"com.openfaas.scale.min": "30"}, 20) == 20
    assert max_replicas({"com.openfaas.scale.max": "2"}, 20) == 2
    assert max_replicas({"com.openfaas.scale.max": "many"}, 20) == 20
