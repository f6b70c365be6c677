"""Load test of the gateway's /function hop against a direct aiohttp echo server.

Runs three servers as separate processes (uvloop): an aiohttp echo upstream,
the pyfaas gateway (memory provider pointed at the echo), and a minimal raw
asyncio-streams forwarder (Content-Length only) as the alternative design.
Then drives each with ``wrk -t1 -c10 -d3s`` POSTing 20 bytes and prints
req/s, p50 and the ratio to the direct echo server. Each server binds port 0
and writes ``listening PORT`` on its stdout once it listens; the run reads it.

    .venv/bin/python bench/gateway_proxy.py [--duration 3s] [--connections 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A --compare-src tree comes first on PYTHONPATH; this tree supplies the rest.
if os.environ.get("PYTHONPATH"):
    sys.path.append(str(ROOT))
else:
    sys.path.insert(0, str(ROOT))

LUA = 'wrk.method = "POST"\nwrk.body = "01234567890123456789"\n'


def _listening() -> socket.socket:
    """A socket listening on a port of the kernel's choosing, announced on stdout."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    _announce(sock.getsockname()[1])
    return sock


def _announce(port: int) -> None:
    print(f"listening {port}", flush=True)


def run_echo() -> None:
    from aiohttp import web

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    web.run_app(app, sock=_listening(), access_log=None, print=None, loop=_loop())


def run_gateway(upstream: int) -> None:
    from pyfaas.gateway.settings import GatewaySettings
    from pyfaas.providers.base import Endpoint
    from pyfaas.providers.memory import MemoryProvider
    from pyfaas.types import FunctionDeployment

    provider = MemoryProvider({"echo": Endpoint(port=upstream)})
    loop = _loop()
    loop.run_until_complete(
        provider.deploy(FunctionDeployment(service="echo", image="echo"), "openfaas-fn")
    )
    settings = GatewaySettings(basic_auth=False, autoscale=False)
    try:
        from pyfaas.gateway.listener import GatewayServer
    except ImportError:  # a --compare-src tree from before the httpd front
        from aiohttp import web

        from pyfaas.gateway.app import create_app

        app = create_app(settings, provider, None, None)
        web.run_app(app, sock=_listening(), access_log=None, print=None, loop=loop)
        return
    gateway = GatewayServer(settings, provider, None, None)
    _announce(loop.run_until_complete(gateway.start("127.0.0.1", 0)))
    loop.run_forever()


def run_raw(upstream: int) -> None:
    """A forwarder with no HTTP framework: the lower bound of a Python hop."""
    pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        body = await reader.readexactly(int(match.group(1))) if match else b""
        return head, body

    async def forward(head: bytes, body: bytes) -> bytes:
        conn = pool.pop() if pool else await asyncio.open_connection("127.0.0.1", upstream)
        conn[1].write(head + body)
        rhead, rbody = await read_message(conn[0])
        pool.append(conn)
        return rhead + rbody

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head, body = await read_message(reader)
                writer.write(await forward(head, body))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=_listening())
        await server.serve_forever()

    _loop().run_until_complete(main())


def _loop() -> asyncio.AbstractEventLoop:
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def wrk(url: str, duration: str, connections: int) -> tuple[float, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    return rps, p50


def _start(argv: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    """A server of this script, and the port it announced once listening."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the child's first line, or "" if it exited first
    if not line.startswith("listening "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{' '.join(argv[2:])} did not start: {line!r}")
    return proc, int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", default="3s")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--serve", choices=["echo", "gateway", "raw"])
    parser.add_argument("--upstream", type=int)
    parser.add_argument(
        "--compare-src", help="also measure the gateway of another source tree (e.g. an old commit)"
    )
    args = parser.parse_args()
    if args.serve == "echo":
        return run_echo()
    if args.serve == "gateway":
        return run_gateway(args.upstream)
    if args.serve == "raw":
        return run_raw(args.upstream)

    me = [sys.executable, __file__]
    procs: list[subprocess.Popen[str]] = []
    try:
        echo_proc, echo = _start([*me, "--serve", "echo"])
        procs.append(echo_proc)
        ports: dict[str, int] = {}
        for kind in ("gateway", "raw"):
            proc, ports[kind] = _start([*me, "--serve", kind, "--upstream", str(echo)])
            procs.append(proc)
        gateway, raw = ports["gateway"], ports["raw"]
        if args.compare_src:
            env = {**os.environ, "PYTHONPATH": args.compare_src}
            cmd = [*me, "--serve", "gateway", "--upstream", str(echo)]
            proc, other = _start(cmd, env)
            procs.append(proc)
        time.sleep(0.5)
        rows = [
            ("aiohttp echo, direct", f"http://127.0.0.1:{echo}/"),
            ("pyfaas gateway", f"http://127.0.0.1:{gateway}/function/echo"),
            ("raw asyncio-streams forwarder", f"http://127.0.0.1:{raw}/"),
        ]
        if args.compare_src:
            rows.append(
                (f"gateway from {args.compare_src}", f"http://127.0.0.1:{other}/function/echo")
            )
        base = 0.0
        for label, url in rows:
            rps, p50 = wrk(url, args.duration, args.connections)
            base = base or rps
            print(f"{label:42s} {rps:10.0f} req/s  p50 {p50:>8s}  {rps / base:6.1%}")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
