"""The gateway's settings, read once from an injected environment mapping.

Names follow OpenFaaS where it has them (``read_timeout``, ``upstream_timeout``,
``basic_auth``, ``function_namespace``, ``scale_from_zero``); pyfaas's own
carry a ``PYFAAS_`` prefix. A bad value raises ``ConfigError`` naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyfaas._env import Env
from pyfaas.naming import DEFAULT_NAMESPACE, namespace_setting
from pyfaas.paths import default_home

MIB = 1024 * 1024


@dataclass(frozen=True)
class GatewaySettings:
    home: Path = Path("~/.pyfaas")
    port: int = 8080
    bind: str = "127.0.0.1"
    read_timeout: float = 60.0
    write_timeout: float = 60.0
    upstream_timeout: float = 60.0
    max_body: int = 64 * MIB
    max_async_body: int = 16 * MIB
    max_system_body: int = 1 * MIB
    queue_url: str = ""
    basic_auth: bool = True
    function_namespace: str = DEFAULT_NAMESPACE
    scale_from_zero: bool = True
    autoscale: bool = True
    log_calls: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GatewaySettings:
        env = Env(environ)
        home = default_home(environ)
        namespace = namespace_setting(environ)
        return cls(
            home=home,
            port=env.integer("PYFAAS_PORT", 8080, minimum=0),
            bind=env.get("PYFAAS_BIND", "127.0.0.1"),
            read_timeout=env.duration("read_timeout", 60.0),
            write_timeout=env.duration("write_timeout", 60.0),
            upstream_timeout=env.duration("upstream_timeout", 60.0),
            max_body=env.size("PYFAAS_MAX_BODY", 64 * MIB),
            max_async_body=env.size("PYFAAS_MAX_ASYNC_BODY", 16 * MIB),
            queue_url=env.get("PYFAAS_QUEUE", "") or f"sqlite://{home / 'queue.db'}",
            basic_auth=env.boolean("basic_auth", True),
            function_namespace=namespace,
            scale_from_zero=env.boolean("scale_from_zero", True),
            autoscale=env.boolean("PYFAAS_AUTOSCALE", True),
            log_calls=env.boolean("write_request_uri", False),
        )
