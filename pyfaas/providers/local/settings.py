"""Settings of the local provider, read once from the gateway process's environment."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

from pyfaas._env import Env
from pyfaas.errors import ConfigError
from pyfaas.images import DEFAULT_WATCHDOG_IMAGES
from pyfaas.logstore import DEFAULT_MAX_BYTES
from pyfaas.naming import DEFAULT_NAMESPACE, namespace_setting
from pyfaas.providers.local.launch import HOST_PATH
from pyfaas.providers.local.limits import DEFAULT_PIDS

SANDBOX_MODES = ("auto", "off", "required")
DEFAULT_MAX_REPLICAS = 20


@dataclass(frozen=True)
class LocalProviderSettings:
    """How the local provider runs replicas.

    ``watchdog_args`` follow the interpreter on a replica's command line; it is
    not read from the environment (an embedding or a test may swap the runtime).
    """

    default_namespace: str = DEFAULT_NAMESPACE
    watchdog_images: tuple[str, ...] = DEFAULT_WATCHDOG_IMAGES
    sandbox: str = "auto"
    python: str = sys.executable
    watchdog_args: tuple[str, ...] = ("-m", "pyfaas.watchdog")
    # A replica that does not answer its health check in time is killed and retried.
    start_timeout: float = 30.0
    # SIGTERM lets a replica drain; SIGKILL follows after this long.
    stop_timeout: float = 10.0
    # A replica taken out of rotation keeps running this long before SIGTERM, so
    # requests already routed to it still connect.
    unroute_delay: float = 1.0
    max_replicas: int = DEFAULT_MAX_REPLICAS
    restart_backoff: float = 0.5
    restart_backoff_max: float = 30.0
    log_max_bytes: int = DEFAULT_MAX_BYTES
    # PATH of host commands (classic fprocess), taken from the gateway's environment.
    host_path: str = HOST_PATH
    # The bubblewrap binary (PYFAAS_BWRAP), found on PATH unless absolute.
    bwrap: str = "bwrap"
    # Processes one replica may have at once (PYFAAS_REPLICA_PIDS), where a pids cgroup exists.
    replica_pids: int = DEFAULT_PIDS
    # PYFAAS_CGROUPS=false keeps replicas out of cgroups (rlimits only).
    cgroups: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LocalProviderSettings:
        env = Env(environ)
        namespace = namespace_setting(environ)
        images = env.optional("PYFAAS_WATCHDOG_IMAGES")
        sandbox = env.get("PYFAAS_SANDBOX", "auto").strip().lower()
        if sandbox not in SANDBOX_MODES:
            raise ConfigError(f"PYFAAS_SANDBOX: {sandbox!r} is not one of auto, off, required")
        return cls(
            default_namespace=namespace,
            watchdog_images=(
                tuple(p.strip() for p in images.split(",") if p.strip())
                if images
                else DEFAULT_WATCHDOG_IMAGES
            ),
            sandbox=sandbox,
            python=env.get("PYFAAS_PYTHON", sys.executable),
            start_timeout=env.duration("PYFAAS_REPLICA_START_TIMEOUT", 30.0),
            stop_timeout=env.duration("PYFAAS_REPLICA_STOP_TIMEOUT", 10.0),
            unroute_delay=env.duration("PYFAAS_REPLICA_UNROUTE_DELAY", 1.0),
            max_replicas=env.integer("PYFAAS_MAX_REPLICAS", DEFAULT_MAX_REPLICAS, minimum=1),
            log_max_bytes=env.size("PYFAAS_LOG_MAX_SIZE", DEFAULT_MAX_BYTES),
            host_path=env.get("PATH", HOST_PATH) or HOST_PATH,
            bwrap=env.get("PYFAAS_BWRAP", "bwrap").strip() or "bwrap",
            replica_pids=env.integer("PYFAAS_REPLICA_PIDS", DEFAULT_PIDS, minimum=8),
            cgroups=env.boolean("PYFAAS_CGROUPS", True),
        )
