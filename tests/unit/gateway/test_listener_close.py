"""``GatewayServer.close`` gives the public port back: the listening socket is closed.

Once accepting stops, a client that connects is refused at once, while a call
already in flight is still answered; and the socket is closed, not left for
the garbage collector (a ``ResourceWarning``, an error in this suite).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from pyfaas.gateway.listener import GatewayServer
from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from tests.factories import gateway_settings
from tests.unit.gateway.conftest import CREDS, deploy


class Held:
    """An upstream whose answers wait until the test releases them."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await self.release.wait()
        return web.Response(text="answered")


@pytest.fixture
async def held() -> AsyncIterator[tuple[Held, MemoryProvider]]:
    upstream = Held()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    port = server.port
    assert port is not None
    provider = MemoryProvider(lambda name, ns: Endpoint(port=port, replica=f"{name}-0"))
    await deploy(provider, "held")
    yield upstream, provider
    upstream.release.set()
    await server.close()


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False  # it reached the backlog just before the socket closed
    writer.close()
    await writer.wait_closed()
    return False


async def _gateway(provider: MemoryProvider, queue: MemoryQueue) -> tuple[GatewayServer, int]:
    gateway = GatewayServer(gateway_settings(basic_auth=False), provider, queue, CREDS, grace=5.0)
    return gateway, await gateway.start("127.0.0.1", 0)


async def test_after_close_the_port_refuses_connections(
    held: tuple[Held, MemoryProvider], queue: MemoryQueue
) -> None:
    gateway, port = await _gateway(held[1], queue)
    assert not await _refused(port)
    await gateway.close()
    assert await _refused(port)
    # Nothing holds the port: it can be bound again at once.
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


async def test_a_call_in_flight_is_answered_while_the_port_refuses_new_ones(
    held: tuple[Held, MemoryProvider], queue: MemoryQueue
) -> None:
    upstream, provider = held
    gateway, port = await _gateway(provider, queue)
    async with ClientSession() as client:
        call = asyncio.create_task(client.post(f"http://127.0.0.1:{port}/function/held", data=b""))
        await asyncio.wait_for(upstream.arrived.wait(), 10)
        closing = asyncio.create_task(gateway.close())
        # The drain waits for the held call; meanwhile nobody new gets in.
        for _ in range(1000):  # 10 s at most
            if await _refused(port):
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the port still accepts connections while the gateway drains")
        assert not closing.done()
        upstream.release.set()
        response = await asyncio.wait_for(call, 10)
        assert response.status == 200
        assert await response.text() == "answered"
        response.release()
        await asyncio.wait_for(closing, 10)
