"""The gateway's public port on this server: ``Expect``, and the connection cap.

``/function/...`` is served on the port itself; ``/system/...`` and
``/healthz`` are passed on to the aiohttp application behind it
(``gateway.front``). Either way the client sees one 100 and then the real
answer, and the function's output arrives; and a crowd of half-sent heads at
the cap keeps neither the health check nor a call out.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pyfaas.gateway.listener import GatewayServer
from pyfaas.providers.base import Endpoint
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from tests.factories import gateway_settings
from tests.unit.gateway.conftest import CREDS, deploy

pytestmark = [
    pytest.mark.integration,  # runs curl
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]
MIB = 1024 * 1024
CAP = 10  # the public port's connection cap in these tests


async def _digest(request: web.Request) -> web.Response:
    body = await request.read()
    names = sorted(k.lower() for k in request.headers)
    text = f"{len(body)} {hashlib.sha256(body).hexdigest()} {json.dumps(names)}"
    return web.Response(text=text)


@pytest.fixture
async def gateway_port() -> AsyncIterator[int]:
    app = web.Application(client_max_size=64 * MIB)
    app.router.add_route("*", "/{tail:.*}", _digest)
    upstream = TestServer(app, host="127.0.0.1", port=0)
    await upstream.start_server()
    port = upstream.port
    assert port is not None
    provider = MemoryProvider(lambda name, ns: Endpoint(port=port, replica=f"{name}-0"))
    await deploy(provider, "digest")
    queue = MemoryQueue()
    await queue.start()
    settings = gateway_settings(
        max_body=16 * MIB, basic_auth=False, max_connections=CAP, read_timeout=30
    )
    gateway = GatewayServer(settings, provider, queue, CREDS, grace=1.0)
    try:
        yield await gateway.start("127.0.0.1", 0)
    finally:
        await gateway.close()
        await queue.close()
        await upstream.close()


async def _curl(*args: str) -> tuple[bytes, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "-v", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    return out, err.decode(errors="replace")


def _one_continue_then(status: int, log: str) -> None:
    assert re.search(r"^> Expect: 100-continue", log, re.M | re.I), log
    assert len(re.findall(r"^< HTTP/1.1 100", log, re.M)) == 1, log
    assert re.search(rf"^< HTTP/1.1 {status}", log, re.M), log


async def test_a_big_call_gets_one_100_and_the_functions_output(
    gateway_port: int, tmp_path: Path
) -> None:
    body = os.urandom(3 * MIB)
    (tmp_path / "big").write_bytes(body)
    url = f"http://127.0.0.1:{gateway_port}/function/digest"
    out, log = await _curl("--data-binary", f"@{tmp_path / 'big'}", url)
    _one_continue_then(200, log)
    size, digest, names = out.decode().split(" ", 2)
    assert (int(size), digest) == (len(body), hashlib.sha256(body).hexdigest())
    assert "expect" not in json.loads(names)  # consumed at the public port


async def test_a_system_call_gets_one_100_and_its_answer(gateway_port: int) -> None:
    deployment = json.dumps({"service": "another", "image": "img"})
    url = f"http://127.0.0.1:{gateway_port}/system/functions"
    _, log = await _curl("-H", "Expect: 100-continue", "--data-binary", deployment, url)
    _one_continue_then(202, log)
    listed, _ = await _curl(url)
    assert "another" in [f["name"] for f in json.loads(listed)]


async def test_an_unknown_expectation_gets_417_on_the_public_port(gateway_port: int) -> None:
    url = f"http://127.0.0.1:{gateway_port}/function/digest"
    _, log = await _curl("-H", "Expect: something-else", "--data-binary", "x", url)
    assert re.search(r"^< HTTP/1.1 417", log, re.M), log


async def test_half_sent_heads_at_the_cap_keep_neither_healthz_nor_calls_out(
    gateway_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    crowd = []
    try:
        for _ in range(CAP * 3):
            _, writer = await asyncio.open_connection("127.0.0.1", gateway_port)
            writer.write(b"POST /function/digest HTTP/1.1\r\nHost: t\r\nContent-Len")
            crowd.append(writer)
        for _ in range(3):
            out, log = await _curl(f"http://127.0.0.1:{gateway_port}/healthz")
            assert re.search(r"^< HTTP/1.1 200", log, re.M), log
            out, log = await _curl(
                "--data-binary", "abc", f"http://127.0.0.1:{gateway_port}/function/digest"
            )
            assert re.search(r"^< HTTP/1.1 200", log, re.M), log
            assert out.startswith(b"3 ")
    finally:
        for writer in crowd:
            writer.close()
    said = [r.getMessage() for r in caplog.records if "connection limit" in r.getMessage()]
    # The first at once; the rest would follow in one line 10 s on.
    assert len(said) == 1
    assert said[0].startswith(f"connection limit {CAP} reached: closed 1 connections waiting")
