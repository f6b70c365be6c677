"""Every settings class, one table: defaults, each variable parsed, bad values failing loudly.

Each process reads its settings once through ``from_env`` (style convention
5). One row per environment variable says what a good value becomes and which
bad value must raise ``ConfigError`` naming the key and the value. A variable
a settings module reads without a row here fails
``test_every_variable_read_has_a_row``, and a field nothing outside its
settings module reads fails ``test_every_field_is_read_outside_its_module``.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pyfaas.errors import ConfigError
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.providers.local.settings import LocalProviderSettings
from pyfaas.watchdog.settings import WatchdogSettings
from pyfaas.worker.callback_guard import Allowed
from pyfaas.worker.settings import WorkerSettings
from tests.package_source import package_trees

PACKAGE = Path(__file__).resolve().parents[2] / "pyfaas"
KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Kind:
    """One settings class: where it lives, the least environment it starts from."""

    cls: type[Any]
    module: str  # path below pyfaas/
    base: Mapping[str, str]  # the least environment from_env accepts
    # Fields from_env derives from the machine rather than from a default.
    derived: frozenset[str] = frozenset()


GATEWAY = Kind(GatewaySettings, "gateway/settings.py", {}, frozenset({"home", "queue_url"}))
# The worker loads credentials from PYFAAS_HOME; a private one keeps the user's out.
WORKER = Kind(
    WorkerSettings,
    "worker/settings.py",
    {"PYFAAS_HOME": "<tmp>"},
    frozenset({"home", "queue_url", "worker_name"}),
)
# classic mode (the default) needs a command; processes follow the machine's cores.
WATCHDOG = Kind(
    WatchdogSettings,
    "watchdog/settings.py",
    {"fprocess": "cat"},
    frozenset({"fprocess", "processes"}),
)
LOCAL = Kind(LocalProviderSettings, "providers/local/settings.py", {})
KINDS = [GATEWAY, WORKER, WATCHDOG, LOCAL]


@dataclass(frozen=True)
class Row:
    kind: Kind
    key: str
    value: str
    field: str
    expected: object
    bad: str | None = None  # a value that must raise ConfigError naming key and value
    base: Mapping[str, str] | None = None  # instead of the kind's base

    @property
    def id(self) -> str:
        return f"{self.kind.cls.__name__}-{self.key}"


ROWS = [
    Row(GATEWAY, "PYFAAS_HOME", "/tmp/h", "home", Path("/tmp/h").resolve()),
    Row(GATEWAY, "PYFAAS_PORT", "0", "port", 0, bad="-1"),
    Row(GATEWAY, "PYFAAS_BIND", "0.0.0.0", "bind", "0.0.0.0"),
    Row(GATEWAY, "PYFAAS_LISTEN_FD", "3", "listen_fd", 3, bad="-1"),
    Row(GATEWAY, "read_timeout", "500ms", "read_timeout", 0.5, bad="soon"),
    Row(GATEWAY, "write_timeout", "2m", "write_timeout", 120.0, bad="later"),
    Row(GATEWAY, "PYFAAS_IDLE_TIMEOUT", "5s", "idle_timeout", 5.0, bad="a while"),
    Row(GATEWAY, "PYFAAS_MAX_HEADER_BYTES", "16Ki", "max_header_bytes", 16 * KIB, bad="lots"),
    Row(GATEWAY, "PYFAAS_MAX_REQUEST_LINE_BYTES", "2048", "max_request_line_bytes", 2048, bad="0"),
    Row(GATEWAY, "PYFAAS_MAX_CONNECTIONS", "300", "max_connections", 300, bad="0"),
    Row(GATEWAY, "upstream_timeout", "1m30s", "upstream_timeout", 90.0, bad="never"),
    Row(GATEWAY, "PYFAAS_MAX_BODY", "2Mi", "max_body", 2 * MIB, bad="big"),
    Row(GATEWAY, "PYFAAS_MAX_ASYNC_BODY", "512Ki", "max_async_body", 512 * KIB, bad="huge"),
    Row(GATEWAY, "PYFAAS_MAX_IMAGE_SIZE", "64Mi", "max_image_size", 64 * MIB, bad="huge"),
    Row(GATEWAY, "PYFAAS_QUEUE", "memory://", "queue_url", "memory://"),
    Row(GATEWAY, "basic_auth", "false", "basic_auth", False, bad="maybe"),
    Row(GATEWAY, "function_namespace", "fns", "function_namespace", "fns", bad="Not_Valid"),
    Row(GATEWAY, "scale_from_zero", "0", "scale_from_zero", False, bad="nope"),
    Row(GATEWAY, "PYFAAS_AUTOSCALE", "false", "autoscale", False, bad="sometimes"),
    Row(GATEWAY, "PYFAAS_SCALE_DOWN_WINDOW", "30s", "scale_down_window", 30.0, bad="later"),
    Row(GATEWAY, "PYFAAS_SCALE_ZERO_DURATION", "2m", "scale_zero_duration", 120.0, bad="0s"),
    Row(GATEWAY, "PYFAAS_SCALE_FROM_ZERO_TIMEOUT", "45s", "scale_from_zero_timeout", 45.0, bad="x"),
    Row(GATEWAY, "write_request_uri", "true", "log_calls", True, bad="yes please"),
    Row(GATEWAY, "PYFAAS_RESULT_RETENTION", "1h", "result_retention", 3600.0, bad="soon"),
    Row(GATEWAY, "PYFAAS_IDEMPOTENCY_WINDOW", "2h", "result_retention", 7200.0, bad="soon"),
    Row(
        GATEWAY,
        "PYFAAS_CALLBACK_ALLOW",
        "10.0.0.0/8, hooks.example.com",
        "callback_allow",
        ("10.0.0.0/8", "hooks.example.com"),
        bad="a/b",
    ),
    Row(GATEWAY, "PYFAAS_MAX_CALLBACK_DEPTH", "2", "max_callback_depth", 2, bad="-1"),
    Row(WORKER, "PYFAAS_HOME", "/tmp/w", "home", Path("/tmp/w").resolve()),
    Row(WORKER, "PYFAAS_QUEUE", "memory://", "queue_url", "memory://"),
    Row(WORKER, "PYFAAS_GATEWAY", "http://gw:9999/", "gateway_url", "http://gw:9999", bad="gw:80"),
    Row(WORKER, "max_inflight", "50", "max_inflight", 50, bad="many"),
    Row(WORKER, "ack_wait", "1m30s", "ack_wait", 90.0, bad="soon"),
    Row(WORKER, "max_retry_attempts", "10", "max_retry_attempts", 10, bad="0"),
    Row(WORKER, "initial_retry_wait", "500ms", "initial_retry_wait", 0.5, bad="later"),
    Row(WORKER, "max_retry_wait", "2m", "max_retry_wait", 120.0, bad="forever"),
    Row(WORKER, "retry_codes", "429, 503", "retry_codes", frozenset({429, 503}), bad="700"),
    Row(WORKER, "callback_attempts", "2", "callback_attempts", 2, bad="0"),
    Row(WORKER, "callback_timeout", "5s", "callback_timeout", 5.0, bad="x"),
    Row(WORKER, "callback_max_inflight", "4", "callback_max_inflight", 4, bad="0"),
    Row(WORKER, "faas_print_body", "true", "faas_print_body", True, bad="yes please"),
    Row(WORKER, "PYFAAS_WORKER_NAME", "w1", "worker_name", "w1"),
    Row(WORKER, "invoke_timeout", "10m", "invoke_timeout", 600.0, bad="long"),
    Row(WORKER, "grace_period", "1s", "grace_period", 1.0, bad="short"),
    Row(
        WORKER,
        "PYFAAS_CALLBACK_ALLOW",
        "10.0.0.0/8, Hooks.Example.com.",
        "callback_allow",
        Allowed(frozenset({"hooks.example.com"}), (ipaddress.ip_network("10.0.0.0/8"),)),
        bad="a/b",
    ),
    Row(WORKER, "result_max_bytes", "64Ki", "result_max_bytes", 64 * KIB, bad="lots"),
    Row(WATCHDOG, "mode", "inproc", "mode", "inproc", bad="streaming"),
    Row(WATCHDOG, "fprocess", "python3  index.py", "fprocess", ("python3", "index.py")),
    Row(WATCHDOG, "function_process", "node index.js", "fprocess", ("node", "index.js"), base={}),
    Row(WATCHDOG, "upstream_url", "http://h:5000/", "upstream_url", "http://h:5000", bad="ftp://h"),
    Row(WATCHDOG, "http_upstream_url", "http://h:5000", "upstream_url", "http://h:5000"),
    Row(WATCHDOG, "PYFAAS_HANDLER", "app.main:handle", "handler", "app.main:handle", bad="main"),
    Row(WATCHDOG, "PYFAAS_LISTEN_FD", "7", "listen_fd", 7, bad="three"),
    Row(WATCHDOG, "port", "0", "port", 0, bad="-1"),
    Row(WATCHDOG, "read_timeout", "500ms", "read_timeout", 0.5, bad="soon"),
    Row(WATCHDOG, "write_timeout", "10", "write_timeout", 10.0, bad="later"),
    Row(WATCHDOG, "PYFAAS_IDLE_TIMEOUT", "5s", "idle_timeout", 5.0, bad="a while"),
    Row(WATCHDOG, "PYFAAS_MAX_HEADER_BYTES", "16Ki", "max_header_bytes", 16 * KIB, bad="10"),
    Row(WATCHDOG, "PYFAAS_MAX_REQUEST_LINE_BYTES", "2048", "max_request_line_bytes", 2048, bad="0"),
    Row(WATCHDOG, "PYFAAS_MAX_CONNECTIONS", "300", "max_connections", 300, bad="0"),
    Row(WATCHDOG, "exec_timeout", "1m30s", "exec_timeout", 90.0, bad="soon"),
    Row(WATCHDOG, "healthcheck_interval", "5s", "healthcheck_interval", 5.0, bad="often"),
    Row(WATCHDOG, "max_inflight", "4", "max_inflight", 4, bad="-1"),
    Row(WATCHDOG, "combine_output", "false", "combine_output", False, bad="yes please"),
    Row(WATCHDOG, "content_type", "application/json", "content_type", "application/json"),
    Row(WATCHDOG, "write_debug", "true", "write_debug", True, bad="loud"),
    Row(WATCHDOG, "cgi_headers", "false", "cgi_headers", False, bad="some"),
    Row(WATCHDOG, "marshal_request", "true", "marshal_request", True, bad="json"),
    Row(WATCHDOG, "prefix_logs", "false", "prefix_logs", False, bad="dated"),
    Row(WATCHDOG, "suppress_lock", "true", "suppress_lock", True, bad="quiet"),
    Row(WATCHDOG, "TMPDIR", "/run/x", "lock_dir", "/run/x"),
    Row(WATCHDOG, "PYFAAS_WATCHDOG_SERVER", "aiohttp", "server", "aiohttp", bad="nginx"),
    Row(WATCHDOG, "PYFAAS_INPROC_THREADS", "true", "inproc_threads", "always", bad="sometimes"),
    Row(WATCHDOG, "PYFAAS_WATCHDOG_PROCESSES", "3", "processes", 3, bad="0"),
    Row(LOCAL, "function_namespace", "fns", "default_namespace", "fns", bad="Not_Valid"),
    Row(
        LOCAL,
        "PYFAAS_WATCHDOG_IMAGES",
        "functions/alpine, acme/watchdog ",
        "watchdog_images",
        ("functions/alpine", "acme/watchdog"),
    ),
    Row(LOCAL, "PYFAAS_SANDBOX", "off", "sandbox", "off", bad="sometimes"),
    Row(LOCAL, "PYFAAS_PYTHON", "/usr/bin/python3", "python", "/usr/bin/python3"),
    Row(LOCAL, "PYFAAS_REPLICA_START_TIMEOUT", "1m", "start_timeout", 60.0, bad="soon"),
    Row(LOCAL, "PYFAAS_REPLICA_STOP_TIMEOUT", "1500ms", "stop_timeout", 1.5, bad="later"),
    Row(LOCAL, "PYFAAS_REPLICA_UNROUTE_DELAY", "0", "unroute_delay", 0.0, bad="a bit"),
    Row(LOCAL, "PYFAAS_MAX_REPLICAS", "5", "max_replicas", 5, bad="0"),
    Row(LOCAL, "PYFAAS_LOG_MAX_SIZE", "1Mi", "log_max_bytes", MIB, bad="big"),
    Row(LOCAL, "PATH", "/opt/bin:/usr/bin", "host_path", "/opt/bin:/usr/bin"),
    Row(LOCAL, "PYFAAS_BWRAP", "/usr/bin/bwrap", "bwrap", "/usr/bin/bwrap"),
    Row(LOCAL, "PYFAAS_REPLICA_PIDS", "64", "replica_pids", 64, bad="7"),
    Row(LOCAL, "PYFAAS_CGROUPS", "false", "cgroups", False, bad="perhaps"),
]

# A call in a settings module that reads a variable by name: env.<kind>("KEY", ...),
# read_size(env, "KEY", ...), or the shared helpers that read one named variable.
_READ = re.compile(
    r'(?:env\.(?:get|optional|duration|boolean|integer|size)\(|read_size\(env,\s*)"([^"]+)"'
)
_HELPERS = {"namespace_setting(": "function_namespace", "default_home(": "PYFAAS_HOME"}


def _environ(kind: Kind, tmp_path: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    chosen = kind.base if base is None else base
    return {k: str(tmp_path) if v == "<tmp>" else v for k, v in chosen.items()}


def _defaults(cls: type[Any]) -> dict[str, object]:
    found: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            found[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            found[f.name] = f.default_factory()
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.cls.__name__)
def test_an_empty_environment_gives_the_declared_defaults(kind: Kind, tmp_path: Path) -> None:
    settings = kind.cls.from_env(_environ(kind, tmp_path))
    declared = _defaults(kind.cls)
    got = {name: getattr(settings, name) for name in declared if name not in kind.derived}
    assert got == {name: value for name, value in declared.items() if name not in kind.derived}
    fprocess = kind.base.get("fprocess")
    if fprocess:
        assert settings.fprocess == (fprocess,)


def test_derived_defaults_follow_the_home_directory(tmp_path: Path) -> None:
    gateway = GatewaySettings.from_env({})
    assert gateway.home == (Path("~").expanduser() / ".pyfaas").resolve()
    assert gateway.queue_url == f"sqlite://{gateway.home / 'queue.db'}"
    worker = WorkerSettings.from_env({"PYFAAS_HOME": str(tmp_path)})
    assert worker.home == tmp_path.resolve()
    assert worker.queue_url == f"sqlite://{tmp_path.resolve() / 'queue.db'}"
    assert worker.worker_name.startswith("queue-worker-")


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_each_variable_is_parsed(row: Row, tmp_path: Path) -> None:
    environ = _environ(row.kind, tmp_path, row.base) | {row.key: row.value}
    settings = row.kind.cls.from_env(environ)
    assert getattr(settings, row.field) == row.expected


BAD = [row for row in ROWS if row.bad is not None]


@pytest.mark.parametrize("row", BAD, ids=lambda r: r.id)
def test_a_bad_value_fails_naming_the_key_and_the_value(row: Row, tmp_path: Path) -> None:
    assert row.bad is not None
    environ = _environ(row.kind, tmp_path, row.base) | {row.key: row.bad}
    with pytest.raises(ConfigError) as caught:
        row.kind.cls.from_env(environ)
    assert row.key in caught.value.message
    assert row.bad in caught.value.message


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.cls.__name__)
def test_every_variable_read_has_a_row(kind: Kind) -> None:
    source = (PACKAGE / kind.module).read_text()
    read = set(_READ.findall(source))
    read |= {key for call, key in _HELPERS.items() if call in source}
    covered = {row.key for row in ROWS if row.kind is kind}
    assert read, f"no variable found in {kind.module}: the pattern above is out of date"
    assert sorted(read - covered) == [], f"variables {kind.module} reads without a row in ROWS"


# Fields read under another name only; none today. Each entry says why.
READ_ELSEWHERE: dict[str, frozenset[str]] = {}


@functools.cache
def _attributes_by_module() -> dict[Path, frozenset[str]]:
    """The attribute names each module of the package reads, parsed once for every row."""
    return {
        path: frozenset(
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
        )
        for path, tree in package_trees().items()
    }


def _attributes_read(skip: Path) -> set[str]:
    names: set[str] = set()
    for path, read in _attributes_by_module().items():
        if path != skip:
            names |= read
    return names


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.cls.__name__)
def test_every_field_is_read_outside_its_module(kind: Kind) -> None:
    module = PACKAGE / kind.module
    read = _attributes_read(module)
    allowed = READ_ELSEWHERE.get(kind.cls.__name__, frozenset())
    fields = {f.name for f in dataclasses.fields(kind.cls)}
    unread = sorted(fields - read - allowed)
    assert unread == [], f"fields of {kind.cls.__name__} nothing outside {kind.module} reads"
