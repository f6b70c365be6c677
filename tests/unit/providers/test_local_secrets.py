"""Secret files: owner-only, atomic, copied per replica."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pyfaas.errors import Conflict, InvalidName, NotFound
from pyfaas.paths import StatePaths
from pyfaas.providers.local.secrets import SecretStore

NS = "openfaas-fn"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_values_are_owner_only_files(state: StatePaths) -> None:
    secrets = SecretStore(state)
    secrets.create("db.password", NS, b"\x00raw bytes")
    path = state.secret_file(NS, "db.password")
    assert path.read_bytes() == b"\x00raw bytes"
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    secrets.update("db.password", NS, b"new")
    assert secrets.read("db.password", NS) == b"new"
    assert mode(path) == 0o600
    assert secrets.names(NS) == ["db.password"]


def test_conflict_and_not_found(state: StatePaths) -> None:
    secrets = SecretStore(state)
    secrets.create("a", NS, b"1")
    with pytest.raises(Conflict):
        secrets.create("a", NS, b"2")
    with pytest.raises(NotFound):
        secrets.update("b", NS, b"2")
    with pytest.raises(NotFound):
        secrets.delete("b", NS)
    assert secrets.missing(["a", "b"], NS) == ["b"]


def test_names_cannot_escape_the_directory(state: StatePaths) -> None:
    with pytest.raises(InvalidName):
        SecretStore(state).create("../credentials", NS, b"x")


def test_copies_for_a_replica(state: StatePaths, tmp_path: Path) -> None:
    secrets = SecretStore(state)
    secrets.create("a", NS, b"1")
    secrets.create("b", NS, b"2")
    target = tmp_path / "replica" / "secrets"
    secrets.copy_to(["a"], NS, target)
    assert [p.name for p in target.iterdir()] == ["a"]
    assert (target / "a").read_bytes() == b"1"
    assert mode(target / "a") == 0o600
    assert mode(target) == 0o700
