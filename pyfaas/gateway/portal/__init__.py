"""The operator's portal at ``/ui/``: a table of the functions, served by the gateway.

Behind the same Basic auth as ``/system`` (``gateway.auth``); nothing is
fetched at run time.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from pyfaas.gateway.state import STATE


async def ui(request: web.Request) -> web.Response:
    state = request.app[STATE]
    functions = await state.provider.list_functions(state.settings.function_namespace)
    rows = "".join(
        f"<tr><td>{escape(f.name)}</td><td>{escape(f.image)}</td>"
        f"<td>{f.available_replicas}/{f.replicas}</td></tr>"
        for f in functions
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>pyfaas</title></head>"
        "<body><h1>pyfaas</h1><table><tr><th>Function</th><th>Image</th>"
        f"<th>Replicas</th></tr>{rows}</table></body></html>"
    )
    return web.Response(text=page, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ui/", ui)
