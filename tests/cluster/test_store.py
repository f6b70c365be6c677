"""The KV definition store against a real nats-server: revisions, compare-and-set, sealing."""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext

from pyfaas.cluster import names
from pyfaas.cluster.secretbox import SecretBox, WrongKey, new_key
from pyfaas.cluster.store import ClusterStore, new_definition
from pyfaas.errors import ConfigError, Conflict, ServiceUnavailable
from tests.factories import NS, deployment
from tests.helpers import NatsServer

pytestmark = pytest.mark.nats


async def test_a_definition_round_trips_with_its_revision(js: JetStreamContext, key: bytes) -> None:
    store = await ClusterStore.open(js, SecretBox(key))
    definition = new_definition(deployment("echo", labels={"a": "b"}), NS, 2)
    revision = await store.create_function(definition)
    found = await store.get_function(NS, "echo")
    assert found is not None
    assert found.revision == revision
    assert found.value == definition
    assert [f.value.name for f in await store.functions()] == ["echo"]


async def test_a_second_create_is_a_conflict(js: JetStreamContext, key: bytes) -> None:
    store = await ClusterStore.open(js, SecretBox(key))
    await store.create_function(new_definition(deployment("echo"), NS, 1))
    with pytest.raises(Conflict):
        await store.create_function(new_definition(deployment("echo", image="other"), NS, 1))
    found = await store.get_function(NS, "echo")
    assert found is not None
    assert found.value.deployment.image == "img"


async def test_an_update_based_on_an_older_revision_is_refused(
    js: JetStreamContext, key: bytes
) -> None:
    store = await ClusterStore.open(js, SecretBox(key))
    base = await store.create_function(new_definition(deployment("echo"), NS, 1))
    first = new_definition(deployment("echo", image="first"), NS, 1)
    second = new_definition(deployment("echo", image="second"), NS, 1)
    newer = await store.update_function(first, base)
    assert newer > base
    with pytest.raises(Conflict, match="changed since revision"):
        await store.update_function(second, base)  # the same base: the other writer lost
    with pytest.raises(Conflict):
        await store.delete_function(NS, "echo", base)
    found = await store.get_function(NS, "echo")
    assert found is not None
    assert found.value.deployment.image == "first"
    await store.delete_function(NS, "echo", newer)
    assert await store.get_function(NS, "echo") is None
    assert await store.functions() == []
    # A deleted name can be deployed again.
    await store.create_function(new_definition(deployment("echo"), NS, 1))
    assert await store.get_function(NS, "echo") is not None


async def test_secrets_are_sealed_in_the_bucket(js: JetStreamContext, key: bytes) -> None:
    store = await ClusterStore.open(js, SecretBox(key))
    await store.create_secret(NS, "api-key", b"hunter2-plaintext")
    raw = await js.key_value(names.SECRETS_BUCKET)
    entry = await raw.get(names.key(NS, "api-key"))
    assert entry.value is not None
    assert b"hunter2" not in entry.value
    assert await store.secret_names(NS) == ["api-key"]
    opened = await store.secrets()
    assert [s.value for s in opened] == [(NS, "api-key", b"hunter2-plaintext")]


async def test_a_sealed_value_does_not_open_under_another_name(key: bytes) -> None:
    box = SecretBox(key)
    sealed = box.seal(b"value", "openfaas-fn.a")
    assert box.open(sealed, "openfaas-fn.a") == b"value"
    with pytest.raises(WrongKey):
        box.open(sealed, "openfaas-fn.b")
    with pytest.raises(WrongKey):
        SecretBox(new_key()).open(sealed, "openfaas-fn.a")


async def test_secret_writes_are_compare_and_set(js: JetStreamContext, key: bytes) -> None:
    store = await ClusterStore.open(js, SecretBox(key))
    base = await store.create_secret(NS, "s", b"one")
    with pytest.raises(Conflict):
        await store.create_secret(NS, "s", b"again")
    await store.update_secret(NS, "s", b"two", base)
    with pytest.raises(Conflict):
        await store.update_secret(NS, "s", b"three", base)
    assert [s.value[2] for s in await store.secrets()] == [b"two"]


async def test_a_wrong_key_is_refused(js: JetStreamContext, key: bytes) -> None:
    await ClusterStore.open(js, SecretBox(key))  # the first host stores the check value
    await ClusterStore.open(js, SecretBox(key))  # the same key opens it again
    with pytest.raises(ConfigError, match="does not match the cluster's"):
        await ClusterStore.open(js, SecretBox(new_key()))


async def test_nats_away_is_service_unavailable(
    js: JetStreamContext, key: bytes, cluster_nats: NatsServer
) -> None:
    store = await ClusterStore.open(js, SecretBox(key))
    cluster_nats.stop()
    with pytest.raises(ServiceUnavailable, match="unavailable"):
        await store.get_function(NS, "echo")
    with pytest.raises(ServiceUnavailable):
        await store.create_secret(NS, "s", b"v")


async def test_a_deleted_secret_is_no_longer_listed(js: JetStreamContext, key: bytes) -> None:
    # The listing is the stream's subjects, as its leader has them: a deleted key keeps
    # one (its marker), and the leader's get of it says it is gone.
    store = await ClusterStore.open(js, SecretBox(key))
    kept = await store.create_secret(NS, "kept", b"one")
    gone = await store.create_secret(NS, "gone", b"two")
    await store.delete_secret(NS, "gone", gone)
    assert kept
    assert await store.secret_names(NS) == ["kept"]
    assert [s.value[1] for s in await store.secrets()] == ["kept"]
