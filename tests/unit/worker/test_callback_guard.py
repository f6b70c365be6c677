"""The worker's callback posts never connect to link-local or metadata addresses, by name or not."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from pyfaas.errors import ConfigError
from pyfaas.queue.envelope import Answer, QueuedCall
from pyfaas.worker.callback_guard import Allowed, GuardedResolver, Refused
from pyfaas.worker.callbacks import CallbackSender
from pyfaas.worker.invoke import new_session
from pyfaas.worker.settings import WorkerSettings
from tests.unit.worker.fakes import FakeGateway


class _Fixed(AbstractResolver):
    """A resolver with a fixed table: name -> addresses."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self.table[host]
        ]

    async def close(self) -> None:
        return None


def test_allow_list_entries_are_hosts_or_networks() -> None:
    allowed = Allowed.parse("PYFAAS_CALLBACK_ALLOW", "169.254.10.0/24, meta.internal,[fe80::1]")
    assert allowed.names == frozenset({"meta.internal"})
    assert not allowed.refused("169.254.10.7")
    assert allowed.refused("169.254.169.254")
    assert not allowed.refused("fe80::1")
    assert allowed.refused("fd00:ec2::254")
    assert not allowed.refused("10.0.0.1")
    with pytest.raises(ConfigError, match="PYFAAS_CALLBACK_ALLOW"):
        Allowed.parse("PYFAAS_CALLBACK_ALLOW", "a/b c")
    env = {"PYFAAS_CALLBACK_ALLOW": "hooks.internal"}
    assert WorkerSettings.from_env(env).callback_allow.names == frozenset({"hooks.internal"})


async def test_a_name_resolving_to_metadata_addresses_keeps_only_the_others() -> None:
    inner = _Fixed({"mixed.test": ["169.254.169.254", "127.0.0.1"], "meta.test": ["fe80::1"]})
    resolver = GuardedResolver(Allowed(), inner)
    kept = await resolver.resolve("mixed.test", 80)
    assert [result["host"] for result in kept] == ["127.0.0.1"]
    with pytest.raises(Refused):
        await resolver.resolve("meta.test", 80)
    allowed = GuardedResolver(Allowed(names=frozenset({"meta.test"})), inner)
    assert [r["host"] for r in await allowed.resolve("meta.test", 80)] == ["fe80::1"]


def _delivery(url: str) -> QueuedCall:
    call_id = uuid.uuid4().hex
    answer = Answer(call_id, 200, 0.1, "1700000000000000000")
    return QueuedCall(
        call_id + ".callback",
        "echo",
        "openfaas-fn",
        body=b"hi",
        callback_url=url,
        submitted_at=time.time(),
        answer=answer,
    )


async def test_a_callback_post_is_refused_for_good_before_it_connects_there(
    gateway: FakeGateway,
) -> None:
    port = gateway.url.rsplit(":", 1)[1]
    inner = _Fixed({"ok.test": ["127.0.0.1"], "meta.test": ["169.254.169.254"]})
    session = new_session(1, GuardedResolver(Allowed(), inner))
    try:
        sender = CallbackSender(session, timeout=5)
        posted = await sender.post(_delivery(f"http://ok.test:{port}/cb/fine"))
        assert posted.ok
        by_name = await sender.post(_delivery(f"http://meta.test:{port}/cb/x"))
        literal = await sender.post(_delivery("http://169.254.169.254/latest/meta-data/"))
    finally:
        await session.close()
    for refused in (by_name, literal):
        assert refused.refused
        assert not refused.retryable
        assert refused.error.startswith("refused: ")
    assert [seen.path for seen in gateway.callbacks] == ["/cb/fine"]
