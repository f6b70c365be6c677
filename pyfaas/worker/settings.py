"""The queue-worker's settings, read once from an injected environment mapping.

Names follow the OpenFaaS queue-worker where it has one (``max_inflight``,
``ack_wait``, ``faas_print_body``) and OpenFaaS Pro's retry settings
otherwise (``max_retry_attempts``, ``initial_retry_wait``, ``max_retry_wait``,
``retry_codes``); ``result_max_bytes`` (``1Mi``) caps the function's
answer stored with each call. Credentials and the callback signing key are loaded here,
once, so no call ever reads a file.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyfaas import credentials
from pyfaas._env import Env
from pyfaas.credentials import Credentials
from pyfaas.errors import ConfigError
from pyfaas.paths import StatePaths, default_home
from pyfaas.worker.callback_guard import NOTHING_ALLOWED, Allowed

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
DEFAULT_RETRY_CODES = frozenset({408, 429, 502, 503, 504})


@dataclass(frozen=True)
class WorkerSettings:
    queue_url: str
    gateway_url: str = DEFAULT_GATEWAY
    home: Path | None = None
    credentials: Credentials | None = None
    signing_key: bytes | None = None
    max_inflight: int = 1
    ack_wait: float = 30.0
    max_retry_attempts: int = 3  # attempts in all, the first one included
    initial_retry_wait: float = 1.0
    max_retry_wait: float = 60.0
    retry_codes: frozenset[int] = DEFAULT_RETRY_CODES
    callback_attempts: int = 5
    callback_timeout: float = 30.0
    callback_max_inflight: int = 16  # callback posts at once, in slots of their own
    faas_print_body: bool = False
    worker_name: str = "queue-worker"
    invoke_timeout: float = 300.0
    grace_period: float = 30.0
    claim_wait: float = 1.0
    annotation_ttl: float = 5.0
    result_max_bytes: int = 1024 * 1024  # a stored result's body is cut here (``results``)
    # PYFAAS_CALLBACK_ALLOW, as the gateway reads it (frozen, so shared safely).
    callback_allow: Allowed = NOTHING_ALLOWED

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WorkerSettings:
        env = Env(environ)
        home = default_home(environ)
        gateway = env.get("PYFAAS_GATEWAY", DEFAULT_GATEWAY).rstrip("/")
        if not gateway.startswith(("http://", "https://")):
            raise ConfigError(f"PYFAAS_GATEWAY: {gateway!r} is not an http(s) URL")
        creds, key = _load_secrets(StatePaths(home))
        settings = cls(
            queue_url=env.get("PYFAAS_QUEUE", f"sqlite://{home / 'queue.db'}"),
            gateway_url=gateway,
            home=home,
            credentials=creds,
            signing_key=key,
            max_inflight=env.integer("max_inflight", 1, minimum=1),
            ack_wait=env.duration("ack_wait", 30.0),
            max_retry_attempts=env.integer("max_retry_attempts", 3, minimum=1),
            initial_retry_wait=env.duration("initial_retry_wait", 1.0),
            max_retry_wait=env.duration("max_retry_wait", 60.0),
            retry_codes=parse_codes("retry_codes", env.optional("retry_codes")),
            callback_attempts=env.integer("callback_attempts", 5, minimum=1),
            callback_timeout=env.duration("callback_timeout", 30.0),
            callback_max_inflight=env.integer("callback_max_inflight", 16, minimum=1),
            faas_print_body=env.boolean("faas_print_body", False),
            worker_name=env.get("PYFAAS_WORKER_NAME", f"queue-worker-{socket.gethostname()}"),
            invoke_timeout=env.duration("invoke_timeout", 300.0),
            grace_period=env.duration("grace_period", 30.0),
            result_max_bytes=env.size("result_max_bytes", 1024 * 1024),
            callback_allow=Allowed.parse(
                "PYFAAS_CALLBACK_ALLOW", env.optional("PYFAAS_CALLBACK_ALLOW")
            ),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Reject combinations no single value shows to be wrong."""
        if self.ack_wait <= 0:
            raise ConfigError(f"ack_wait: {self.ack_wait!r} must be more than 0")
        if self.max_retry_wait < self.initial_retry_wait:
            raise ConfigError(
                f"max_retry_wait: {self.max_retry_wait!r} is below"
                f" initial_retry_wait {self.initial_retry_wait!r}"
            )


def parse_codes(key: str, raw: str | None) -> frozenset[int]:
    """``408,429,502`` -> the set of HTTP status codes; ``None`` -> the default."""
    if raw is None:
        return DEFAULT_RETRY_CODES
    codes: set[int] = set()
    for part in raw.split(","):
        text = part.strip()
        if not text:
            continue
        if not text.isdigit() or not 100 <= int(text) <= 599:
            raise ConfigError(f"{key}: {raw!r} is not a list of HTTP status codes")
        codes.add(int(text))
    return frozenset(codes)


def _load_secrets(paths: StatePaths) -> tuple[Credentials | None, bytes | None]:
    """Credentials and signing key if the platform has made them; neither is required."""
    creds: Credentials | None = None
    key: bytes | None = None
    try:
        creds = credentials.load(paths)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"PYFAAS_HOME: cannot read credentials in {paths.home}: {exc}") from exc
    try:
        key = credentials.signing_key(paths) or None
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"PYFAAS_HOME: cannot read signing key in {paths.home}: {exc}") from exc
    return creds, key


__all__ = ["DEFAULT_GATEWAY", "DEFAULT_RETRY_CODES", "WorkerSettings", "parse_codes"]
