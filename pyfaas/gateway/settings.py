"""The gateway's settings, read once from an injected environment mapping.

Names follow OpenFaaS where it has them (``read_timeout``, ``upstream_timeout``,
``basic_auth``, ``function_namespace``, ``scale_from_zero``); pyfaas's own
carry a ``PYFAAS_`` prefix. A bad value raises ``ConfigError`` naming the key.

Asynchronous calls: ``PYFAAS_RESULT_RETENTION`` (24h; 0 keeps them for ever)
is how long a finished call's record and result are kept before the gateway
prunes them. It is also the idempotency window: an ``Idempotency-Key`` or
``X-Call-Id`` answers the first call for as long as its record exists, so
``PYFAAS_IDEMPOTENCY_WINDOW`` is accepted only as another name for the same
value (a different value is a ``ConfigError``). ``PYFAAS_CALLBACK_ALLOW``
lists hosts and CIDRs a callback may reach despite the rules of
``callback_rules``; ``PYFAAS_MAX_CALLBACK_DEPTH`` (5) caps chains of callbacks
into ``/async-function``.

Autoscaling (``autoscale``): ``PYFAAS_AUTOSCALE`` (true) runs it;
``PYFAAS_SCALE_DOWN_WINDOW`` (5m) is how long the OpenFaaS Pro modes wait
before running fewer replicas; ``PYFAAS_SCALE_ZERO_DURATION`` (15m) is the
idle time before a ``com.openfaas.scale.zero=true`` function without a
``com.openfaas.scale.zero-duration`` label is scaled to zero. A call to a
function at zero replicas is held while one starts, for
``PYFAAS_SCALE_FROM_ZERO_TIMEOUT`` (default ``upstream_timeout``), then
answered 503 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyfaas._env import Env
from pyfaas.errors import ConfigError
from pyfaas.gateway.callback_rules import parse_allow
from pyfaas.httpd.limits import KIB, Limits, read_size
from pyfaas.naming import DEFAULT_NAMESPACE, namespace_setting
from pyfaas.paths import default_home

MIB = 1024 * 1024


@dataclass(frozen=True)
class GatewaySettings:
    home: Path = Path("~/.pyfaas")
    port: int = 8080
    bind: str = "127.0.0.1"
    # PYFAAS_LISTEN_FD: an inherited listening socket to serve on instead of
    # binding bind:port (``pyfaas serve`` binds the port and passes it down).
    listen_fd: int | None = None
    # The public port's limits (pyfaas.httpd.limits): a head within read_timeout,
    # a body that never stalls that long, a write that never stalls write_timeout.
    read_timeout: float = 10.0
    write_timeout: float = 60.0
    idle_timeout: float = 75.0
    max_header_bytes: int = 64 * KIB
    max_request_line_bytes: int = 8 * KIB
    max_connections: int = 10_000
    upstream_timeout: float = 60.0
    max_body: int = 64 * MIB
    max_async_body: int = 16 * MIB
    max_system_body: int = 1 * MIB
    max_image_size: int = 2048 * MIB  # an uploaded image archive (gateway.images)
    queue_url: str = ""
    basic_auth: bool = True
    function_namespace: str = DEFAULT_NAMESPACE
    scale_from_zero: bool = True
    autoscale: bool = True
    scale_down_window: float = 300.0
    scale_zero_duration: float = 900.0
    scale_from_zero_timeout: float = 60.0
    # How often the autoscaler ticks; not an environment setting (tests shorten it).
    autoscale_interval: float = 1.0
    log_calls: bool = False
    result_retention: float = 24 * 3600.0  # seconds; 0: never pruned
    # How often the gateway prunes; not an environment setting (tests shorten it).
    prune_interval: float = 60.0
    callback_allow: tuple[str, ...] = ()
    max_callback_depth: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GatewaySettings:
        env = Env(environ)
        home = default_home(environ)
        namespace = namespace_setting(environ)
        upstream_timeout = env.duration("upstream_timeout", 60.0)
        return cls(
            home=home,
            port=env.integer("PYFAAS_PORT", 8080, minimum=0),
            bind=env.get("PYFAAS_BIND", "127.0.0.1"),
            listen_fd=(
                env.integer("PYFAAS_LISTEN_FD", 0, minimum=0)
                if env.optional("PYFAAS_LISTEN_FD")
                else None
            ),
            read_timeout=env.duration("read_timeout", 10.0),
            write_timeout=env.duration("write_timeout", 60.0),
            idle_timeout=env.duration("PYFAAS_IDLE_TIMEOUT", 75.0),
            max_header_bytes=read_size(env, "PYFAAS_MAX_HEADER_BYTES", 64 * KIB),
            max_request_line_bytes=read_size(env, "PYFAAS_MAX_REQUEST_LINE_BYTES", 8 * KIB),
            max_connections=env.integer("PYFAAS_MAX_CONNECTIONS", 10_000, minimum=1),
            upstream_timeout=upstream_timeout,
            max_body=env.size("PYFAAS_MAX_BODY", 64 * MIB),
            max_async_body=env.size("PYFAAS_MAX_ASYNC_BODY", 16 * MIB),
            max_image_size=env.size("PYFAAS_MAX_IMAGE_SIZE", 2048 * MIB),
            queue_url=env.get("PYFAAS_QUEUE", "") or f"sqlite://{home / 'queue.db'}",
            basic_auth=env.boolean("basic_auth", True),
            function_namespace=namespace,
            scale_from_zero=env.boolean("scale_from_zero", True),
            autoscale=env.boolean("PYFAAS_AUTOSCALE", True),
            scale_down_window=env.duration("PYFAAS_SCALE_DOWN_WINDOW", 300.0),
            scale_zero_duration=_positive_duration(env, "PYFAAS_SCALE_ZERO_DURATION", 900.0),
            scale_from_zero_timeout=env.duration(
                "PYFAAS_SCALE_FROM_ZERO_TIMEOUT", upstream_timeout
            ),
            log_calls=env.boolean("write_request_uri", False),
            result_retention=_retention(env),
            callback_allow=_callback_allow(env.get("PYFAAS_CALLBACK_ALLOW", "")),
            max_callback_depth=env.integer("PYFAAS_MAX_CALLBACK_DEPTH", 5, minimum=0),
        )

    @property
    def limits(self) -> Limits:
        """What the public port allows a client."""
        return Limits(
            read_timeout=self.read_timeout,
            write_timeout=self.write_timeout,
            idle_timeout=self.idle_timeout,
            max_header_bytes=self.max_header_bytes,
            max_request_line_bytes=self.max_request_line_bytes,
            max_connections=self.max_connections,
        )


def _retention(env: Env) -> float:
    retention = env.duration("PYFAAS_RESULT_RETENTION", 24 * 3600.0)
    window = env.optional("PYFAAS_IDEMPOTENCY_WINDOW")
    if window is None:
        return retention
    seconds = env.duration("PYFAAS_IDEMPOTENCY_WINDOW", retention)
    if env.optional("PYFAAS_RESULT_RETENTION") is None:
        return seconds
    if seconds != retention:
        raise ConfigError(
            f"PYFAAS_IDEMPOTENCY_WINDOW: {window!r} differs from PYFAAS_RESULT_RETENTION:"
            " the idempotency window is the result retention; set one of them"
        )
    return retention


def _positive_duration(env: Env, key: str, default: float) -> float:
    seconds = env.duration(key, default)
    if seconds <= 0:
        raise ConfigError(f"{key}: {env.get(key, '')!r} must be more than 0 seconds")
    return seconds


def _callback_allow(raw: str) -> tuple[str, ...]:
    # Checked here so a typo fails at start, not at the first callback.
    entries = tuple(part.strip() for part in raw.split(",") if part.strip())
    parse_allow("PYFAAS_CALLBACK_ALLOW", entries)
    return entries
