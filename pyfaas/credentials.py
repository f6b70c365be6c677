"""Admin credentials of a platform: generated at first start, stored with mode 0600.

The gateway checks them (basic auth on ``/system/*``), the queue-worker and
the local CLI read them to call the API, and ``pyfaas serve`` prints where
they are. The file names follow OpenFaaS's ``basic-auth-user`` and
``basic-auth-password`` secrets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pyfaas.paths import StatePaths

USER_FILE = "basic-auth-user"
PASSWORD_FILE = "basic-auth-password"
SIGNING_KEY_FILE = "callback-signing-key"
DEFAULT_USER = "admin"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only, never world-readable even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def ensure(paths: StatePaths) -> tuple[Credentials, bool]:
    """Load the credentials, generating them first if absent. Returns (creds, created)."""
    directory = paths.credentials
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    import secrets  # only when generating: the CLI loads credentials on every call

    created = False
    if not (directory / PASSWORD_FILE).exists():
        _write_private(directory / USER_FILE, DEFAULT_USER)
        _write_private(directory / PASSWORD_FILE, secrets.token_urlsafe(24))
        created = True
    if not (directory / SIGNING_KEY_FILE).exists():
        _write_private(directory / SIGNING_KEY_FILE, secrets.token_hex(32))
    return load(paths), created


def save(paths: StatePaths, creds: Credentials, signing: bytes) -> None:
    """Make these the platform's credentials and signing key (a cluster's, shared by its hosts)."""
    directory = paths.credentials
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    _write_private(directory / USER_FILE, creds.user)
    _write_private(directory / PASSWORD_FILE, creds.password)
    _write_private(directory / SIGNING_KEY_FILE, signing.decode())


def load(paths: StatePaths) -> Credentials:
    directory = paths.credentials
    user = (directory / USER_FILE).read_text().strip()
    password = (directory / PASSWORD_FILE).read_text().strip()
    return Credentials(user=user, password=password)


def signing_key(paths: StatePaths) -> bytes:
    """The key the queue-worker signs callbacks with (HMAC-SHA256)."""
    return (paths.credentials / SIGNING_KEY_FILE).read_text().strip().encode()
