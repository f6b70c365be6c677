"""Deployed functions persisted in ``provider.db`` (SQLite), so they survive restarts.

A function is stored as its deployment request (as received, labels already
completed), its desired replica count and its creation time. The provider
keeps the records in memory and writes through to this store; SQLite errors
become ``ServiceUnavailable`` at this boundary.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pyfaas.errors import Conflict, ServiceUnavailable
from pyfaas.types import FunctionDeployment, FunctionStatus

_SCHEMA = """
CREATE TABLE IF NOT EXISTS functions (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    deployment TEXT NOT NULL,
    replicas   INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
)
"""


@dataclass(frozen=True)
class FunctionRecord:
    """What the provider knows about one function, apart from its running replicas."""

    name: str
    namespace: str
    deployment: FunctionDeployment
    replicas: int
    created_at: datetime

    def status(self, available: int) -> FunctionStatus:
        return FunctionStatus.from_deployment(
            self.deployment,
            self.namespace,
            replicas=self.replicas,
            available=available,
            created_at=self.created_at,
        )

    def with_replicas(self, replicas: int) -> FunctionRecord:
        return replace(self, replicas=replicas)


class FunctionStore:
    """One SQLite file; every call is a short transaction."""

    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise ServiceUnavailable(f"cannot open the function store {path}: {exc}") from exc

    def load(self) -> list[FunctionRecord]:
        rows = self._run("SELECT namespace, name, deployment, replicas, created_at FROM functions")
        return [
            FunctionRecord(
                name=str(name),
                namespace=str(namespace),
                deployment=FunctionDeployment.model_validate_json(str(deployment)),
                replicas=int(str(replicas)),
                created_at=datetime.fromisoformat(str(created)).astimezone(UTC),
            )
            for namespace, name, deployment, replicas, created in rows
        ]

    def insert(self, record: FunctionRecord) -> None:
        try:
            self._run(
                "INSERT INTO functions VALUES (?, ?, ?, ?, ?)",
                (record.namespace, record.name, *self._values(record)),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"function {record.name} already exists") from exc

    def save(self, record: FunctionRecord) -> None:
        self._run(
            "UPDATE functions SET deployment = ?, replicas = ?, created_at = ?"
            " WHERE namespace = ? AND name = ?",
            (*self._values(record), record.namespace, record.name),
        )

    def delete(self, namespace: str, name: str) -> None:
        self._run("DELETE FROM functions WHERE namespace = ? AND name = ?", (namespace, name))

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def _values(record: FunctionRecord) -> tuple[str, int, str]:
        body = record.deployment.model_dump_json(by_alias=True, exclude_none=True)
        return body, record.replicas, record.created_at.isoformat()

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return list(self._db.execute(sql, params))
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise ServiceUnavailable(f"function store failed: {exc}") from exc
