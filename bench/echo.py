"""A plain aiohttp echo server on uvloop: the yardstick every hop is compared with.

python -m bench.echo PORT   (0: any free port; it prints ``listening PORT`` once it listens)
"""

from __future__ import annotations

import asyncio
import socket
import sys

import uvloop
from aiohttp import web


async def _echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


def main(port: int) -> None:
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    sock = socket.create_server(("127.0.0.1", port), backlog=1024)
    print(f"listening {sock.getsockname()[1]}", flush=True)
    web.run_app(app, sock=sock, access_log=None, print=None, loop=loop)


if __name__ == "__main__":
    main(int(sys.argv[1]))
