"""The layout of a platform's state directory (``$PYFAAS_HOME``, default ``~/.pyfaas``).

Every process of one platform agrees on these paths; nothing else builds
paths into the state directory by hand. Function processes never see this
directory (the sandbox hides it).

    $PYFAAS_HOME/                      0700
      credentials/basic-auth-user      0600  admin user name
      credentials/basic-auth-password  0600  admin password
      provider.db                      deployed functions (SQLite)
      secrets/<namespace>/<name>       0600  secret values
      images/<key>/image.json          the local image store (see pyfaas.images)
      images/<key>/root/               files the image puts in its file system
      images/<key>/venv/               the image's own Python virtualenv, if any
      replicas/<namespace>/<name>/<id>/  a replica's private scratch (its /tmp)
      data/<namespace>/<name>/         a function's own files, kept across its
                                       replicas and restarts, gone with the function
      logs/<namespace>/<name>.ndjson   function logs; system components use
                                       the namespace "openfaas" (queue-worker, gateway)
      queue.db                         the embedded SQLite queue
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SYSTEM_NAMESPACE = "openfaas"


def default_home(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("PYFAAS_HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    return (Path(environ.get("HOME", "~")).expanduser() / ".pyfaas").resolve()


@dataclass(frozen=True)
class StatePaths:
    home: Path

    @property
    def credentials(self) -> Path:
        return self.home / "credentials"

    @property
    def provider_db(self) -> Path:
        return self.home / "provider.db"

    @property
    def secrets(self) -> Path:
        return self.home / "secrets"

    @property
    def images(self) -> Path:
        return self.home / "images"

    @property
    def replicas(self) -> Path:
        return self.home / "replicas"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def queue_db(self) -> Path:
        return self.home / "queue.db"

    @property
    def data(self) -> Path:
        return self.home / "data"

    def function_data(self, namespace: str, name: str) -> Path:
        return self.data / namespace / name

    def secret_file(self, namespace: str, name: str) -> Path:
        return self.secrets / namespace / name

    def log_file(self, namespace: str, name: str) -> Path:
        return self.logs / namespace / f"{name}.ndjson"

    def ensure(self) -> StatePaths:
        """Create the directory tree with owner-only permissions."""
        for directory in (
            self.home,
            self.credentials,
            self.secrets,
            self.images,
            self.replicas,
            self.logs,
        ):
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o700)
        return self
