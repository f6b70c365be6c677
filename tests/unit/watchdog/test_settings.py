"""WatchdogSettings.from_env: OpenFaaS names, defaults, and loud failures."""

from __future__ import annotations

import os

import pytest

from pyfaas.errors import ConfigError
from pyfaas.watchdog.settings import MAX_PROCESSES, WatchdogSettings, split_command


def test_classic_defaults() -> None:
    settings = WatchdogSettings.from_env({"fprocess": "cat"})
    assert settings.mode == "classic"
    assert settings.fprocess == ("cat",)
    assert settings.exec_timeout == 0.0
    assert settings.write_timeout == 30.0
    assert settings.healthcheck_interval == 30.0
    assert settings.combine_output is True
    assert settings.cgi_headers is True
    assert settings.max_inflight == 0
    assert settings.listen_fd is None
    assert settings.port == 8080
    assert settings.lock_dir == "/tmp"


def test_values_are_parsed() -> None:
    settings = WatchdogSettings.from_env(
        {
            "fprocess": "python3  index.py",
            "exec_timeout": "1m30s",
            "write_timeout": "10",
            "max_inflight": "4",
            "combine_output": "false",
            "content_type": "application/json",
            "port": "0",
            "PYFAAS_LISTEN_FD": "7",
            "TMPDIR": "/run/x",
        }
    )
    assert settings.fprocess == ("python3", "index.py")
    assert settings.exec_timeout == 90.0
    assert settings.write_timeout == 10.0
    assert settings.healthcheck_interval == 10.0
    assert settings.max_inflight == 4
    assert settings.combine_output is False
    assert settings.content_type == "application/json"
    assert settings.port == 0
    assert settings.listen_fd == 7
    assert settings.lock_dir == "/run/x"


def test_http_mode_needs_upstream_and_defaults_exec_timeout() -> None:
    settings = WatchdogSettings.from_env(
        {"mode": "http", "fprocess": "python index.py", "upstream_url": "http://127.0.0.1:5000/"}
    )
    assert settings.upstream_url == "http://127.0.0.1:5000"
    assert settings.exec_timeout == 30.0
    with pytest.raises(ConfigError, match="upstream_url"):
        WatchdogSettings.from_env({"mode": "http", "fprocess": "x"})


def test_inproc_needs_no_fprocess() -> None:
    settings = WatchdogSettings.from_env({"mode": "inproc", "PYFAAS_HANDLER": "app.main:handle"})
    assert settings.handler == "app.main:handle"


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"fprocess": ""}, "fprocess"),
        ({"mode": "streaming", "fprocess": "cat"}, "mode"),
        ({"fprocess": "cat", "exec_timeout": "soon"}, "exec_timeout"),
        ({"fprocess": "cat", "max_inflight": "-1"}, "max_inflight"),
        ({"fprocess": "cat", "combine_output": "yes please"}, "combine_output"),
        ({"fprocess": "cat", "PYFAAS_LISTEN_FD": "three"}, "PYFAAS_LISTEN_FD"),
        ({"mode": "inproc", "PYFAAS_HANDLER": "nocolon"}, "PYFAAS_HANDLER"),
        ({"mode": "http", "fprocess": "x", "upstream_url": "ftp://h"}, "upstream_url"),
        (
            {"mode": "http", "fprocess": "x", "upstream_url": "http://h", "write_timeout": "0"},
            "write_timeout",
        ),
    ],
)
def test_bad_values_name_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        WatchdogSettings.from_env(environ)


def test_split_command_has_no_shell_quoting() -> None:
    assert split_command("sh -c 'echo hi'") == ("sh", "-c", "'echo", "hi'")


def test_inproc_threads_setting() -> None:
    base = {"mode": "inproc"}
    assert WatchdogSettings.from_env(base).inproc_threads == "auto"
    on = WatchdogSettings.from_env({**base, "PYFAAS_INPROC_THREADS": "true"})
    assert on.inproc_threads == "always"
    off = WatchdogSettings.from_env({**base, "PYFAAS_INPROC_THREADS": "0"})
    assert off.inproc_threads == "never"
    with pytest.raises(ConfigError, match="PYFAAS_INPROC_THREADS"):
        WatchdogSettings.from_env({**base, "PYFAAS_INPROC_THREADS": "sometimes"})


def test_classic_mode_runs_a_process_per_core_unless_calls_are_counted() -> None:
    cores = len(os.sched_getaffinity(0))
    classic = WatchdogSettings.from_env({"fprocess": "cat"})
    assert classic.processes == max(1, min(cores, MAX_PROCESSES))
    assert WatchdogSettings.from_env({"fprocess": "cat", "max_inflight": "2"}).processes == 1
    inproc = WatchdogSettings.from_env({"mode": "inproc"})
    assert inproc.processes == 1
    given = {"fprocess": "cat", "PYFAAS_WATCHDOG_PROCESSES": "3"}
    assert WatchdogSettings.from_env(given).processes == 3


@pytest.mark.parametrize(
    ("environ", "why"),
    [
        ({"fprocess": "cat", "max_inflight": "1"}, "max_inflight is set"),
        ({"mode": "inproc"}, "inproc mode"),
    ],
)
def test_several_processes_are_refused_where_one_must_count(
    environ: dict[str, str], why: str
) -> None:
    with pytest.raises(ConfigError, match=f"PYFAAS_WATCHDOG_PROCESSES: '2' must be 1 when {why}"):
        WatchdogSettings.from_env({**environ, "PYFAAS_WATCHDOG_PROCESSES": "2"})


def test_server_limits_defaults_and_names() -> None:
    settings = WatchdogSettings.from_env({"fprocess": "cat"})
    limits = settings.limits
    assert (limits.read_timeout, limits.write_timeout, limits.idle_timeout) == (10.0, 30.0, 75.0)
    assert (limits.max_header_bytes, limits.max_request_line_bytes) == (64 * 1024, 8 * 1024)
    assert limits.max_connections == 10_000
    settings = WatchdogSettings.from_env(
        {
            "fprocess": "cat",
            "read_timeout": "500ms",
            "PYFAAS_IDLE_TIMEOUT": "5s",
            "PYFAAS_MAX_HEADER_BYTES": "16Ki",
            "PYFAAS_MAX_REQUEST_LINE_BYTES": "2048",
            "PYFAAS_MAX_CONNECTIONS": "300",
        }
    )
    assert settings.limits.read_timeout == 0.5
    assert settings.limits.idle_timeout == 5.0
    assert settings.limits.max_header_bytes == 16 * 1024
    assert settings.limits.max_request_line_bytes == 2048
    assert settings.limits.max_connections == 300


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PYFAAS_MAX_HEADER_BYTES", "10"),
        ("PYFAAS_MAX_HEADER_BYTES", "lots"),
        ("PYFAAS_MAX_REQUEST_LINE_BYTES", "0"),
        ("PYFAAS_MAX_CONNECTIONS", "0"),
        ("PYFAAS_IDLE_TIMEOUT", "a while"),
    ],
)
def test_bad_server_limits_name_key_and_value(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        WatchdogSettings.from_env({"fprocess": "cat", key: value})
