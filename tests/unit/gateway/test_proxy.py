"""The /function hot path against a real echo server behind the memory provider."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiohttp import ClientSession

from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from tests.unit.gateway.conftest import MakeClient, deploy

Client = ClientSession


async def test_post_is_forwarded_with_body_path_and_query(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/function/echo.openfaas-fn/a/b%20c?x=1&y=2", data=b"hello")
    assert resp.status == 200
    assert await resp.read() == b"hello"
    assert resp.headers["X-Echo-Path"] == "/a/b%20c?x=1&y=2"
    assert resp.headers["X-Echo-Method"] == "POST"
    assert resp.headers["X-Duration-Seconds"] == "0.000100"


async def test_root_path_and_default_namespace(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    for path in ("/function/echo", "/function/echo/"):
        resp = await client.get(path)
        assert resp.status == 200
        assert resp.headers["X-Echo-Path"] == "/"


async def test_every_verb_reaches_the_function(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        resp = await client.request(method, "/function/echo.openfaas-fn")
        assert resp.status == 200, method
        assert resp.headers["X-Echo-Method"] == method


async def test_call_headers_generated(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/function/echo", data=b"x")
    call_id = resp.headers["X-Call-Id"]
    assert uuid.UUID(call_id).version == 7
    assert int(resp.headers["X-Start-Time"]) > 1_600_000_000 * 10**9
    assert resp.headers["X-Served-By"].startswith("pyfaas/")
    seen = json.loads(resp.headers["X-Echo-Headers"])
    assert seen["X-Call-Id"] == call_id
    assert seen["X-Start-Time"] == resp.headers["X-Start-Time"]
    assert seen["X-Forwarded-For"].startswith("127.0.0.1:")
    assert "X-Forwarded-Host" in seen


async def test_caller_call_id_is_kept(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/function/echo", data=b"x", headers={"X-Call-Id": "mine-1"})
    assert resp.headers["X-Call-Id"] == "mine-1"
    assert json.loads(resp.headers["X-Echo-Headers"])["X-Call-Id"] == "mine-1"


async def test_hop_by_hop_headers_are_dropped(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post(
        "/function/echo", data=b"x", headers={"Proxy-Authorization": "x", "Te": "trailers"}
    )
    seen = json.loads(resp.headers["X-Echo-Headers"])
    assert "Proxy-Authorization" not in seen
    assert "Te" not in seen


async def test_redirects_are_passed_through(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/function/echo/redirect", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "http://example.com/"


async def test_function_status_is_passed_through(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.get("/function/echo/status?code=418")
    assert resp.status == 418
    assert await resp.text() == "custom"


async def test_large_response_is_streamed(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.get("/function/echo/stream")
    assert resp.status == 200
    body = await resp.read()
    assert len(body) == 64 * 1024 * len(b"line 0000 ")
    assert body.endswith(b"line 0063 ")


async def test_chunked_request_body_is_streamed(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"a" * 50_000

    resp = await client.post("/function/echo", data=chunks())
    assert resp.status == 200
    assert resp.headers["X-Echo-Length"] == "500000"


async def test_large_declared_body_is_streamed(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/function/echo", data=b"z" * 900_000)
    assert resp.status == 200
    assert resp.headers["X-Echo-Length"] == "900000"


# The aiohttp client's, not pyfaas's: its advice on a large bytes body, and the
# connection it leaves unclosed when the gateway's 413 cuts the upload short
# (whatever the body's type, and even once the response is released).
@pytest.mark.filterwarnings("ignore:Sending a large body directly with raw bytes:ResourceWarning")
@pytest.mark.filterwarnings("ignore:Unclosed connection:ResourceWarning")
async def test_declared_oversize_body_is_413(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/function/echo", data=b"z" * (1024 * 1024 + 1))
    assert resp.status == 413


async def test_streamed_oversize_body_is_413(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(30):
            yield b"a" * 50_000

    resp = await client.post("/function/echo", data=chunks())
    assert resp.status == 413


async def test_unknown_function_is_404(client: Client) -> None:
    resp = await client.post("/function/nope.openfaas-fn")
    assert resp.status == 404
    assert await resp.text() == "error finding function nope.openfaas-fn: not found\n"


async def test_empty_function_name_is_404(client: Client) -> None:
    resp = await client.post("/function/.openfaas-fn")
    assert resp.status == 404
    assert (await resp.text()).count("\n") == 1


async def test_unreachable_replica_is_502(make_client: MakeClient) -> None:
    from pyfaas.providers.base import Endpoint
    from tests.helpers import refused_port

    with refused_port() as sock:
        dead = MemoryProvider({"gone": Endpoint(port=sock.getsockname()[1])})
        await deploy(dead, "gone")
        client = await make_client(provider=dead)
        resp = await client.post("/function/gone", data=b"x")
    assert resp.status == 502


async def test_scaled_to_zero_function_is_scaled_up(
    client: Client, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    await provider.scale("echo", "openfaas-fn", 0)
    resp = await client.post("/function/echo", data=b"x")
    assert resp.status == 200
    assert (await provider.get_function("echo", "openfaas-fn")).replicas == 1


async def test_invocations_need_no_auth(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/function/echo", headers={"Authorization": "Bearer "})
    assert resp.status == 200


async def test_hop_by_hop_headers_are_dropped_whatever_their_case(
    make_client: MakeClient,
) -> None:
    # A function's server may write header names in lower case; they are still
    # hop-by-hop and must not reach the caller.
    async def lower_case_replica(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=5\r\n"
            b"upgrade: h2c\r\nproxy-authenticate: Basic\r\nx-kept: yes\r\n\r\nok"
        )
        await writer.drain()
        writer.close()

    replica = await asyncio.start_server(lower_case_replica, "127.0.0.1", 0)
    port = replica.sockets[0].getsockname()[1]
    provider = MemoryProvider(lambda name, ns: Endpoint(port=port, replica="r"))
    await deploy(provider, "lower")
    client = await make_client(provider=provider)
    try:
        resp = await client.get("/function/lower")
        assert resp.status == 200
        assert await resp.read() == b"ok"
        assert resp.headers["X-Kept"] == "yes"
        for name in ("Keep-Alive", "Upgrade", "Proxy-Authenticate"):
            assert name not in resp.headers
        assert resp.headers.getall("Content-Length") == ["2"]
    finally:
        replica.close()
        await replica.wait_closed()


async def test_a_function_slower_than_upstream_timeout_is_504(
    make_client: MakeClient, provider: MemoryProvider
) -> None:
    client = await make_client(upstream_timeout=0.1)
    await deploy(provider, "echo")
    resp = await client.post("/function/echo/slow?seconds=5", data=b"x")
    assert resp.status == 504
    assert "timed out waiting for function" in await resp.text()
    quick = await client.post("/function/echo/slow?seconds=0.01", data=b"x")
    assert quick.status == 200  # the gateway and its pool carry on
