"""The watchdog's settings, read once from its environment.

Names and defaults follow the classic watchdog and of-watchdog (see the
OpenFaaS contract, section 3); ``PYFAAS_*`` names cover what OpenFaaS has no
name for. A bad value raises ``ConfigError`` naming the key and the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from pyfaas._env import Env, parse_bool
from pyfaas.errors import ConfigError
from pyfaas.httpd.limits import KIB, Limits, read_size

Mode = Literal["classic", "http", "inproc"]
ServerKind = Literal["httptools", "aiohttp"]
Threads = Literal["auto", "always", "never"]
MODES: tuple[Mode, ...] = ("classic", "http", "inproc")
DEFAULT_HANDLER = "function.handler:handle"
MAX_PROCESSES = 4
T = TypeVar("T", bound=str)


@dataclass(frozen=True, slots=True)
class WatchdogSettings:
    mode: Mode = "classic"
    fprocess: tuple[str, ...] = ()
    upstream_url: str | None = None
    handler: str = DEFAULT_HANDLER
    listen_fd: int | None = None
    port: int = 8080
    # The server's limits (pyfaas.httpd.limits): a head within read_timeout (of-watchdog's
    # default), a body that never stalls that long, a write that never stalls write_timeout.
    read_timeout: float = 10.0
    write_timeout: float = 30.0
    idle_timeout: float = 75.0
    max_header_bytes: int = 64 * KIB
    max_request_line_bytes: int = 8 * KIB
    max_connections: int = 10_000
    exec_timeout: float = 0.0  # 0: no limit
    healthcheck_interval: float = 30.0
    max_inflight: int = 0  # 0: no limit
    combine_output: bool = True
    content_type: str | None = None
    write_debug: bool = False
    cgi_headers: bool = True
    marshal_request: bool = False
    prefix_logs: bool = True
    suppress_lock: bool = False
    lock_dir: str = "/tmp"
    server: ServerKind = "httptools"
    # Sync inproc handlers: "auto" runs them inline until one call is slow, then in threads.
    inproc_threads: Threads = "auto"
    processes: int = 1  # watchdog processes sharing the socket (classic mode; see workers)

    @property
    def command(self) -> str:
        return " ".join(self.fprocess)

    @property
    def limits(self) -> Limits:
        """What the server allows a client."""
        return Limits(
            read_timeout=self.read_timeout,
            write_timeout=self.write_timeout,
            idle_timeout=self.idle_timeout,
            max_header_bytes=self.max_header_bytes,
            max_request_line_bytes=self.max_request_line_bytes,
            max_connections=self.max_connections,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WatchdogSettings:
        env = Env(environ)
        mode = _choice("mode", env.get("mode", "classic"), MODES)
        write_timeout = env.duration("write_timeout", 30.0)
        fprocess = split_command(env.optional("fprocess") or env.get("function_process", ""))
        upstream = env.optional("upstream_url") or env.optional("http_upstream_url")
        _require_process(mode, fprocess, upstream)
        if mode == "http" and write_timeout <= 0:
            raise ConfigError(f"write_timeout: {env.get('write_timeout', '')!r} must be above 0")
        max_inflight = env.integer("max_inflight", 0, minimum=0)
        return cls(
            mode=mode,
            fprocess=fprocess,
            upstream_url=upstream.rstrip("/") if upstream else None,
            handler=_handler(env.get("PYFAAS_HANDLER", DEFAULT_HANDLER)),
            listen_fd=_listen_fd(env),
            port=env.integer("port", 8080, minimum=0),
            read_timeout=env.duration("read_timeout", 10.0),
            write_timeout=write_timeout,
            idle_timeout=env.duration("PYFAAS_IDLE_TIMEOUT", 75.0),
            max_header_bytes=read_size(env, "PYFAAS_MAX_HEADER_BYTES", 64 * KIB),
            max_request_line_bytes=read_size(env, "PYFAAS_MAX_REQUEST_LINE_BYTES", 8 * KIB),
            max_connections=env.integer("PYFAAS_MAX_CONNECTIONS", 10_000, minimum=1),
            # of-watchdog limits http-mode calls to 30s by default; classic has no limit.
            exec_timeout=env.duration("exec_timeout", 0.0 if mode == "classic" else 30.0),
            healthcheck_interval=env.duration("healthcheck_interval", write_timeout),
            max_inflight=max_inflight,
            combine_output=env.boolean("combine_output", True),
            content_type=env.optional("content_type"),
            write_debug=env.boolean("write_debug", False),
            cgi_headers=env.boolean("cgi_headers", True),
            marshal_request=env.boolean("marshal_request", False),
            prefix_logs=env.boolean("prefix_logs", True),
            suppress_lock=env.boolean("suppress_lock", False),
            lock_dir=env.optional("TMPDIR") or "/tmp",
            server=_choice(
                "PYFAAS_WATCHDOG_SERVER",
                env.get("PYFAAS_WATCHDOG_SERVER", "httptools"),
                ("httptools", "aiohttp"),
            ),
            inproc_threads=_threads(env.get("PYFAAS_INPROC_THREADS", "auto")),
            processes=_processes(env, mode, max_inflight),
        )


def _processes(env: Env, mode: Mode, max_inflight: int) -> int:
    """``PYFAAS_WATCHDOG_PROCESSES``: by default one per core (at most 4) in classic mode.

    One process only where calls must be counted in one place (``max_inflight``)
    or share one upstream or handler (the other modes).
    """
    given = env.optional("PYFAAS_WATCHDOG_PROCESSES")
    single = mode != "classic" or max_inflight > 0
    if given is None or given == "auto":
        return 1 if single else max(1, min(len(os.sched_getaffinity(0)), MAX_PROCESSES))
    count = env.integer("PYFAAS_WATCHDOG_PROCESSES", 1, minimum=1)
    if count > 1 and single:
        why = "max_inflight is set" if mode == "classic" else f"{mode} mode"
        raise ConfigError(f"PYFAAS_WATCHDOG_PROCESSES: {given!r} must be 1 when {why}")
    return count


def split_command(value: str) -> tuple[str, ...]:
    """Split ``fprocess`` on spaces as the watchdogs do: no shell, no quoting."""
    return tuple(part for part in value.strip().split(" ") if part)


def _choice(key: str, value: str, allowed: tuple[T, ...]) -> T:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    return next(choice for choice in allowed if choice == value)


def _require_process(mode: Mode, fprocess: tuple[str, ...], upstream: str | None) -> None:
    if mode in ("classic", "http") and not fprocess:
        raise ConfigError(f"fprocess: '' must name a command in {mode} mode")
    if mode == "http" and not upstream:
        raise ConfigError("upstream_url: '' must be set in http mode")
    if upstream and not upstream.startswith(("http://", "https://")):
        raise ConfigError(f"upstream_url: {upstream!r} is not an http:// URL")


def _handler(value: str) -> str:
    module, _, func = value.partition(":")
    if not module or not func:
        raise ConfigError(f"PYFAAS_HANDLER: {value!r} is not module:function")
    return value


def _listen_fd(env: Env) -> int | None:
    raw = env.optional("PYFAAS_LISTEN_FD")
    return None if raw is None else env.integer("PYFAAS_LISTEN_FD", 0, minimum=0)


def _threads(value: str) -> Threads:
    if value == "auto":
        return "auto"
    try:
        return "always" if parse_bool("PYFAAS_INPROC_THREADS", value) else "never"
    except ConfigError:
        raise ConfigError(f"PYFAAS_INPROC_THREADS: {value!r} is not auto, true or false") from None
