"""Which gateway to talk to, and the faas-cli config file that holds its credentials.

Both follow faas-cli exactly, so ``pyfaas login`` and ``faas-cli login``
share one ``~/.openfaas/config.yml``:

* gateway precedence: ``--gateway`` flag > stack file ``provider.gateway`` >
  ``OPENFAAS_URL`` > ``http://127.0.0.1:8080``; the URL is lower-cased, its
  trailing ``/`` trimmed and ``http://`` prepended when no scheme is given;
* the config file lives in ``$OPENFAAS_CONFIG`` (a directory) if set, else in
  ``./.openfaas`` when ``CI`` is ``true`` or ``1``, else in ``~/.openfaas``;
  the list is under ``auths`` (faas-cli's ``ConfigFile`` YAML key) and each
  entry is ``{gateway, auth: basic, token: base64(user:pass)}``. Files written
  under the earlier ``authconfigs`` key are still read, and rewritten as ``auths``.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pyfaas.errors import ConfigError

DEFAULT_GATEWAY = "http://127.0.0.1:8080"
CONFIG_FILE = "config.yml"
AUTHS = "auths"
_LEGACY_AUTHS = "authconfigs"
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


def normalise_gateway(url: str) -> str:
    url = url.strip().lower().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url


def resolve_gateway(flag: str | None, stack_gateway: str | None, environ: Mapping[str, str]) -> str:
    for candidate in (flag, stack_gateway, environ.get("OPENFAAS_URL")):
        if candidate:
            return normalise_gateway(candidate)
    return DEFAULT_GATEWAY


def is_local(gateway: str) -> bool:
    return (urlsplit(gateway).hostname or "") in _LOCAL_HOSTS


def config_dir(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("OPENFAAS_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    if environ.get("CI") in ("true", "1"):
        return Path(".openfaas")
    return Path(environ.get("HOME", "~")).expanduser() / ".openfaas"


def config_path(environ: Mapping[str, str]) -> Path:
    return config_dir(environ) / CONFIG_FILE


def _read(path: Path) -> dict[str, Any]:
    # PyYAML is imported only when there is a file to read: `pyfaas invoke` starts
    # once per call, and most local users never log in.
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the faas-cli config file: {exc}") from exc
    import yaml

    try:
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the faas-cli config file: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with an {AUTHS} list")
    for key in (AUTHS, _LEGACY_AUTHS):
        if not isinstance(data.get(key) or [], list):
            raise ConfigError(f"{path}: {key}: expected a list of gateway entries")
    return data


def _entries(data: dict[str, Any]) -> list[Any]:
    return list(data.get(AUTHS) or []) + list(data.pop(_LEGACY_AUTHS, None) or [])


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    import yaml

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(data, handle, default_flow_style=False, sort_keys=False)
    os.chmod(path, 0o600)


def encode_token(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def save_auth(environ: Mapping[str, str], gateway: str, user: str, password: str) -> Path:
    """Add or replace the basic-auth entry for ``gateway``; returns the file written."""
    path = config_path(environ)
    data = _read(path)
    gateway = normalise_gateway(gateway)
    entries = [e for e in _entries(data) if _gateway_of(e) != gateway]
    entries.append({"gateway": gateway, "auth": "basic", "token": encode_token(user, password)})
    data[AUTHS] = entries
    _write(path, data)
    return path


def remove_auth(environ: Mapping[str, str], gateway: str) -> bool:
    """Drop the entry for ``gateway``; False if there was none."""
    path = config_path(environ)
    data = _read(path)
    gateway = normalise_gateway(gateway)
    entries = _entries(data)
    kept = [e for e in entries if _gateway_of(e) != gateway]
    if len(kept) == len(entries):
        return False
    data[AUTHS] = kept
    _write(path, data)
    return True


def lookup_auth(environ: Mapping[str, str], gateway: str) -> tuple[str, str] | None:
    """The basic-auth pair saved for ``gateway``, if any."""
    path = config_path(environ)
    gateway = normalise_gateway(gateway)
    for entry in _entries(_read(path)):
        if _gateway_of(entry) == gateway and entry.get("auth", "basic") == "basic":
            return _decode_token(path, str(entry.get("token", "")))
    return None


def _gateway_of(entry: Any) -> str:
    if isinstance(entry, dict) and entry.get("gateway"):
        return normalise_gateway(str(entry["gateway"]))
    return ""


def _decode_token(path: Path, token: str) -> tuple[str, str]:
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: token: not base64 of user:password") from exc
    if not sep:
        raise ConfigError(f"{path}: token: not base64 of user:password")
    return user, password
