"""The reconciler's full sync against a listing that lags the bucket's leader.

A listing can come from a replica still catching up (``cluster.listing``
says why the store asks the leader now); whatever its source, a function
missing from it is removed from the host only once the leader's get says
its definition is gone, so a stale listing never stops replicas, nor has
the gateway answer a function's calls 404.
"""

from __future__ import annotations

import pytest
from nats.js import JetStreamContext

from pyfaas.cluster.reconciler import Reconciler
from pyfaas.cluster.secretbox import SecretBox
from pyfaas.cluster.store import ClusterStore, Definition, Versioned, new_definition
from pyfaas.providers.memory import MemoryProvider
from tests.factories import NS, deployment

pytestmark = [pytest.mark.nats]


class LaggingStore(ClusterStore):
    """The bucket, listed as a replica that has caught up with none of it would list it."""

    async def functions(self) -> list[Versioned[Definition]]:
        return []


async def test_a_function_missing_from_a_stale_listing_keeps_running(
    js: JetStreamContext, key: bytes
) -> None:
    store = await ClusterStore.open(js, SecretBox(key))
    lagging = await LaggingStore.open(js, SecretBox(key))  # the same buckets, listed stale
    local = MemoryProvider()
    await store.create_function(new_definition(deployment("echo"), NS, 1))
    await Reconciler(store, local).sync()
    assert await local.has_function("echo", NS)

    await Reconciler(lagging, local).sync()
    assert await local.has_function("echo", NS)

    # Deleted for real: the leader's get agrees with the listing, and it goes.
    current = await store.get_function(NS, "echo")
    assert current is not None
    await store.delete_function(NS, "echo", current.revision)
    await Reconciler(lagging, local).sync()
    assert not await local.has_function("echo", NS)
