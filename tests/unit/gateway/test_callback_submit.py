"""The callback rules at submission, through the gateway: refused targets, allow-list, redaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Queue
from tests.unit.gateway.backends import BACKENDS, started_queue
from tests.unit.gateway.conftest import AUTH, MakeClient, deploy

Client = ClientSession


@pytest.fixture(params=BACKENDS)
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Queue]:
    async with started_queue(request, tmp_path) as started:
        yield started


def _port(client: Client) -> int:
    assert client._base_url is not None
    port = client._base_url.port
    assert port is not None
    return port


async def test_a_callback_to_this_gateways_system_api_is_400(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    for url in (
        f"http://127.0.0.1:{_port(client)}/system/functions",
        f"http://localhost:{_port(client)}/system/secrets",
        "http://169.254.169.254/latest/meta-data/iam",
    ):
        resp = await client.post("/async-function/echo", headers={"X-Callback-Url": url})
        assert resp.status == 400, url
        assert (await resp.text()).count("\n") == 1
    assert (await queue.stats()).queued == 0


async def test_a_chain_into_async_function_is_allowed(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    url = f"http://127.0.0.1:{_port(client)}/async-function/echo"
    resp = await client.post(
        "/async-function/echo",
        headers={"X-Callback-Url": url, "X-Pyfaas-Callback-Depth": "2"},
    )
    assert resp.status == 202
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    assert (delivery.call.callback_url, delivery.call.depth) == (url, 2)


async def test_the_allow_list_lets_a_metadata_callback_through(
    make_client: MakeClient, provider: MemoryProvider
) -> None:
    client = await make_client(callback_allow=("169.254.169.254",))
    await deploy(provider, "echo")
    resp = await client.post(
        "/async-function/echo", headers={"X-Callback-Url": "http://169.254.169.254/cb"}
    )
    assert resp.status == 202


async def test_the_depth_cap_is_a_setting(
    make_client: MakeClient, provider: MemoryProvider
) -> None:
    client = await make_client(max_callback_depth=1)
    await deploy(provider, "echo")
    ok = await client.post("/async-function/echo", headers={"X-Pyfaas-Callback-Depth": "1"})
    refused = await client.post("/async-function/echo", headers={"X-Pyfaas-Callback-Depth": "2"})
    assert (ok.status, refused.status) == (202, 400)


async def test_credentials_are_stored_but_shown_redacted(
    client: Client, provider: MemoryProvider, queue: Queue
) -> None:
    await deploy(provider, "echo")
    url = "http://user:pw@127.0.0.1:9/cb"
    resp = await client.post("/async-function/echo", headers={"X-Callback-Url": url})
    call_id = resp.headers["X-Call-Id"]
    record = await (await client.get(f"/system/calls/{call_id}", headers=AUTH)).json()
    assert record["callbackUrl"] == "http://user:***@127.0.0.1:9/cb"
    [delivery] = await queue.claim(limit=1, lease=30, wait=5)
    assert delivery.call.callback_url == url
