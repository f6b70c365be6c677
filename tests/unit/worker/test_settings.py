"""WorkerSettings.from_env: defaults, OpenFaaS names, loud failures, secrets from PYFAAS_HOME."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pyfaas import credentials
from pyfaas.errors import ConfigError
from pyfaas.paths import StatePaths
from pyfaas.worker.settings import DEFAULT_RETRY_CODES, WorkerSettings, parse_codes


def test_defaults(tmp_path: Path) -> None:
    settings = WorkerSettings.from_env({"PYFAAS_HOME": str(tmp_path)})
    assert settings.queue_url == f"sqlite://{tmp_path.resolve()}/queue.db"
    assert settings.gateway_url == "http://127.0.0.1:8080"
    assert settings.max_inflight == 1
    assert settings.ack_wait == 30.0
    assert settings.max_retry_attempts == 3
    assert (settings.initial_retry_wait, settings.max_retry_wait) == (1.0, 60.0)
    assert settings.retry_codes == frozenset({408, 429, 502, 503, 504})
    assert settings.callback_attempts == 5
    assert settings.callback_max_inflight == 16
    assert settings.faas_print_body is False
    assert settings.credentials is None
    assert settings.signing_key is None


def test_values_are_read(tmp_path: Path) -> None:
    settings = WorkerSettings.from_env(
        {
            "PYFAAS_HOME": str(tmp_path),
            "PYFAAS_QUEUE": "memory://",
            "PYFAAS_GATEWAY": "http://gw:9999/",
            "max_inflight": "50",
            "ack_wait": "1m30s",
            "max_retry_attempts": "10",
            "initial_retry_wait": "500ms",
            "max_retry_wait": "2m",
            "retry_codes": "429, 503",
            "callback_attempts": "2",
            "callback_max_inflight": "4",
            "faas_print_body": "true",
            "PYFAAS_WORKER_NAME": "w1",
        }
    )
    assert settings.queue_url == "memory://"
    assert settings.gateway_url == "http://gw:9999"
    assert settings.max_inflight == 50
    assert settings.ack_wait == 90.0
    assert settings.max_retry_attempts == 10
    assert (settings.initial_retry_wait, settings.max_retry_wait) == (0.5, 120.0)
    assert settings.retry_codes == frozenset({429, 503})
    assert settings.callback_attempts == 2
    assert settings.callback_max_inflight == 4
    assert settings.faas_print_body is True
    assert settings.worker_name == "w1"
    assert replace(settings, max_inflight=3).max_inflight == 3


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_inflight", "0"),
        ("max_inflight", "many"),
        ("ack_wait", "soon"),
        ("ack_wait", "0"),
        ("retry_codes", "429,abc"),
        ("retry_codes", "700"),
        ("faas_print_body", "yes please"),
        ("PYFAAS_GATEWAY", "gateway:8080"),
        ("max_retry_wait", "100ms"),
        ("callback_max_inflight", "0"),
    ],
)
def test_bad_values_name_key_and_value(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WorkerSettings.from_env({"PYFAAS_HOME": str(tmp_path), key: value})
    assert key in str(caught.value)


def test_credentials_and_signing_key_are_loaded_once(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path).ensure()
    creds, _ = credentials.ensure(paths)
    settings = WorkerSettings.from_env({"PYFAAS_HOME": str(tmp_path)})
    assert settings.credentials == creds
    assert settings.signing_key == credentials.signing_key(paths)


def test_parse_codes() -> None:
    assert parse_codes("k", None) == DEFAULT_RETRY_CODES
    assert parse_codes("k", "") == frozenset()
    assert parse_codes("k", "500,502,") == frozenset({500, 502})
