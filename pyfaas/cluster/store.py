"""Function definitions and sealed secrets in JetStream KV, changed by compare-and-set.

Every write names the revision it is based on: ``create`` succeeds only if the
key holds nothing, ``update``/``delete`` only if the key's last revision is
``last``. A write based on an older revision is a ``Conflict`` (409), so two
hosts changing one function at once never overwrite each other silently.
Reads return ``Versioned`` values carrying the revision to base the next write on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

import nats.errors
import nats.js.errors
import orjson
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from pyfaas.cluster import listing, names
from pyfaas.cluster.secretbox import CHECK_PLAINTEXT, SecretBox, WrongKey
from pyfaas.errors import ConfigError, Conflict, ServiceUnavailable
from pyfaas.types import FunctionDeployment

T = TypeVar("T")
HISTORY = 5


@dataclass(frozen=True)
class Definition:
    """What every host runs for one function: its deployment and replicas per host."""

    namespace: str
    deployment: FunctionDeployment
    replicas: int
    created_at: datetime

    @property
    def name(self) -> str:
        return self.deployment.service

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "namespace": self.namespace,
                "deployment": self.deployment.model_dump(mode="json", exclude_none=True),
                "replicas": self.replicas,
                "created_at": self.created_at.isoformat(),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Definition:
        raw = orjson.loads(data)
        return cls(
            namespace=raw["namespace"],
            deployment=FunctionDeployment.model_validate(raw["deployment"]),
            replicas=int(raw["replicas"]),
            created_at=datetime.fromisoformat(raw["created_at"]),
        )

    def with_replicas(self, replicas: int) -> Definition:
        return Definition(self.namespace, self.deployment, replicas, self.created_at)


def new_definition(deployment: FunctionDeployment, namespace: str, replicas: int) -> Definition:
    return Definition(namespace, deployment, replicas, datetime.now(UTC))


@dataclass(frozen=True)
class Versioned(Generic[T]):
    value: T
    revision: int


class ClusterStore:
    """The functions and secrets buckets of one cluster."""

    def __init__(self, functions: KeyValue, secrets: KeyValue, box: SecretBox) -> None:
        self._functions = functions
        self._secrets = secrets
        self._box = box

    @classmethod
    async def open(cls, js: JetStreamContext, box: SecretBox, replicas: int = 1) -> ClusterStore:
        """Declare the buckets (idempotent) and check the key against the cluster's."""
        try:
            functions = await js.create_key_value(
                bucket=names.FUNCTIONS_BUCKET, history=HISTORY, replicas=replicas
            )
            secrets = await js.create_key_value(
                bucket=names.SECRETS_BUCKET, history=HISTORY, replicas=replicas
            )
        except (nats.errors.Error, TimeoutError) as exc:
            raise ServiceUnavailable(f"cluster buckets unavailable: {exc!r}") from exc
        store = cls(functions, secrets, box)
        await store._check_key()
        return store

    async def _check_key(self) -> None:
        try:
            entry = await self._secrets.get(names.CHECK_KEY)
        except nats.js.errors.KeyNotFoundError:
            sealed = self._box.seal(CHECK_PLAINTEXT, names.CHECK_KEY)
            try:
                await self._secrets.create(names.CHECK_KEY, sealed)
                return
            except nats.js.errors.KeyWrongLastSequenceError:
                entry = await self._secrets.get(names.CHECK_KEY)  # another host was first
        try:
            self._box.open(entry.value or b"", names.CHECK_KEY)
        except WrongKey:
            raise ConfigError(
                "the cluster key does not match the cluster's: its check value in"
                f" bucket {names.SECRETS_BUCKET} does not open with it"
            ) from None

    async def shared(self, kv_key: str, proposed: bytes) -> tuple[bytes, bool]:
        """The cluster's value under the reserved ``kv_key``, sealed there first as ``proposed``
        if it has none; and whether this call put it there. The first host's proposal wins."""
        with _reaching():
            try:
                entry = await self._secrets.get(kv_key)
            except nats.js.errors.KeyNotFoundError:
                try:
                    await self._secrets.create(kv_key, self._box.seal(proposed, kv_key))
                    return proposed, True
                except nats.js.errors.KeyWrongLastSequenceError:
                    entry = await self._secrets.get(kv_key)  # another host was first
        try:
            return self._box.open(entry.value or b"", kv_key), False
        except WrongKey as exc:
            raise ConfigError(f"bucket {names.SECRETS_BUCKET}: {exc}") from None

    # -- functions ---------------------------------------------------------------

    async def get_function(self, namespace: str, name: str) -> Versioned[Definition] | None:
        entry = await _get(self._functions, names.key(namespace, name))
        if entry is None:
            return None
        return Versioned(Definition.decode(entry[0]), entry[1])

    async def functions(self) -> list[Versioned[Definition]]:
        found = []
        for kv_key in await _keys(self._functions):
            entry = await _get(self._functions, kv_key)
            if entry is not None:
                found.append(Versioned(Definition.decode(entry[0]), entry[1]))
        return found

    async def create_function(self, definition: Definition) -> int:
        kv_key = names.key(definition.namespace, definition.name)
        with _reaching():
            try:
                return await self._functions.create(kv_key, definition.encode())
            except nats.js.errors.KeyWrongLastSequenceError:
                raise Conflict(f"function {definition.name} already exists") from None

    async def update_function(self, definition: Definition, last: int) -> int:
        kv_key = names.key(definition.namespace, definition.name)
        return await _update(self._functions, kv_key, definition.encode(), last, "function")

    async def delete_function(self, namespace: str, name: str, last: int) -> None:
        await _delete(self._functions, names.key(namespace, name), last, "function")

    # -- secrets -----------------------------------------------------------------

    async def secret_names(self, namespace: str) -> list[str]:
        found = []
        for kv_key in await _keys(self._secrets):
            ns, name = names.split_key(kv_key)
            # A deleted secret keeps its key (a marker): the leader's get tells.
            if ns == namespace and await _get(self._secrets, kv_key) is not None:
                found.append(name)
        return sorted(found)

    async def secrets(self) -> list[Versioned[tuple[str, str, bytes]]]:
        """Every secret, opened: ``(namespace, name, value)`` with its revision."""
        found = []
        for kv_key in await _keys(self._secrets):
            if names.reserved(kv_key):
                continue
            entry = await _get(self._secrets, kv_key)
            if entry is not None:
                namespace, name = names.split_key(kv_key)
                value = self._box.open(entry[0], kv_key)
                found.append(Versioned((namespace, name, value), entry[1]))
        return found

    def open_secret(self, kv_key: str, sealed: bytes) -> bytes:
        """A watched secret's value; raises ``WrongKey`` as ``secrets`` does."""
        return self._box.open(sealed, kv_key)

    async def secret_revision(self, namespace: str, name: str) -> int | None:
        entry = await _get(self._secrets, names.key(namespace, name))
        return None if entry is None else entry[1]

    async def create_secret(self, namespace: str, name: str, value: bytes) -> int:
        kv_key = names.key(namespace, name)
        with _reaching():
            try:
                return await self._secrets.create(kv_key, self._box.seal(value, kv_key))
            except nats.js.errors.KeyWrongLastSequenceError:
                raise Conflict(f"secret {name} already exists") from None

    async def update_secret(self, namespace: str, name: str, value: bytes, last: int) -> int:
        kv_key = names.key(namespace, name)
        return await _update(self._secrets, kv_key, self._box.seal(value, kv_key), last, "secret")

    async def delete_secret(self, namespace: str, name: str, last: int) -> None:
        await _delete(self._secrets, names.key(namespace, name), last, "secret")


# JetStream's "wrong last sequence": nats-py raises it as its own class for some
# calls (update, create) and as a plain 400 for others (delete with ``last``).
WRONG_LAST_SEQUENCE = 10071


def _wrong_last(exc: Exception) -> bool:
    if isinstance(exc, nats.js.errors.KeyWrongLastSequenceError):
        return True
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code == WRONG_LAST_SEQUENCE


@contextlib.contextmanager
def _reaching() -> Iterator[None]:
    """NATS away (or too slow) is the platform's 503."""
    try:
        yield
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        raise ServiceUnavailable(f"the cluster's state in NATS is unavailable: {exc!r}") from exc


async def _get(kv: KeyValue, kv_key: str) -> tuple[bytes, int] | None:
    with _reaching():
        try:
            entry = await kv.get(kv_key)
        except nats.js.errors.KeyNotFoundError:  # KeyDeletedError too
            return None
    if entry.value is None or entry.revision is None:
        return None
    return entry.value, entry.revision


async def _keys(kv: KeyValue) -> list[str]:
    """The bucket's keys as its leader has them (``listing``), deleted ones among them."""
    with _reaching():
        return await listing.keys(kv)


async def _update(kv: KeyValue, kv_key: str, value: bytes, last: int, what: str) -> int:
    with _reaching():
        try:
            return await kv.update(kv_key, value, last=last)
        except nats.js.errors.APIError as exc:
            if not _wrong_last(exc):
                raise
            raise Conflict(
                f"{what} {names.split_key(kv_key)[1]} changed since revision {last}: read it again"
            ) from None


async def _delete(kv: KeyValue, kv_key: str, last: int, what: str) -> None:
    with _reaching():
        try:
            await kv.delete(kv_key, last=last)
        except nats.js.errors.APIError as exc:
            if not _wrong_last(exc):
                raise
            raise Conflict(
                f"{what} {names.split_key(kv_key)[1]} changed since revision {last}: read it again"
            ) from None


__all__ = ["ClusterStore", "Definition", "Versioned", "new_definition"]
