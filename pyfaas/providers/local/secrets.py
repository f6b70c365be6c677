"""Secret values as owner-only files at ``paths.secret_file(namespace, name)``.

Values are written atomically (a 0600 temporary file renamed into place) and
are never logged or returned by listings. Replicas get private copies of just
their function's secrets (``copy_to``), so a replica never sees the store.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pyfaas.errors import Conflict, NotFound
from pyfaas.naming import validate_secret_name
from pyfaas.paths import StatePaths


class SecretStore:
    def __init__(self, paths: StatePaths) -> None:
        self._paths = paths

    def names(self, namespace: str) -> list[str]:
        directory = self._paths.secrets / namespace
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if p.is_file() and _visible(p))

    def exists(self, name: str, namespace: str) -> bool:
        return self._file(name, namespace).is_file()

    def create(self, name: str, namespace: str, value: bytes) -> None:
        if self.exists(name, namespace):
            raise Conflict(f"secret {name} already exists")
        _write_private(self._file(name, namespace), value)

    def update(self, name: str, namespace: str, value: bytes) -> None:
        if not self.exists(name, namespace):
            raise NotFound(f"secret {name} not found")
        _write_private(self._file(name, namespace), value)

    def delete(self, name: str, namespace: str) -> None:
        try:
            self._file(name, namespace).unlink()
        except FileNotFoundError:
            raise NotFound(f"secret {name} not found") from None

    def read(self, name: str, namespace: str) -> bytes:
        try:
            return self._file(name, namespace).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"secret {name} not found") from None

    def missing(self, names: list[str], namespace: str) -> list[str]:
        return [n for n in names if not self.exists(n, namespace)]

    def copy_to(
        self,
        names: list[str],
        namespace: str,
        directory: Path,
        owner: tuple[int, int] | None = None,
    ) -> None:
        """Write the current values of ``names`` into ``directory`` (0700), files 0600.

        ``owner`` (uid, gid) is the function's user when it is not the platform's:
        the copies become its own, and still nobody else's.
        """
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        if owner is not None:
            os.chown(directory, *owner)
        for name in names:
            _write_private(directory / name, self.read(name, namespace), owner)

    def _file(self, name: str, namespace: str) -> Path:
        return self._paths.secret_file(namespace, validate_secret_name(name))


def _visible(path: Path) -> bool:
    # Temporary files of an unfinished write start with a dot.
    return not path.name.startswith(".")


def _write_private(path: Path, value: bytes, owner: tuple[int, int] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd, temp = tempfile.mkstemp(prefix=".", dir=path.parent)
    try:
        # mkstemp creates the file 0600 already; no window where it is readable.
        with os.fdopen(fd, "wb") as handle:
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            handle.write(value)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
