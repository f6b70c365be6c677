"""``GET /ui/api/store``: the function store, for the portal's "deploy from the store".

The gateway has no store route of its own (faas-cli and ``pyfaas store``
read the index on the client side); the portal lists the entries pyfaas
ships and deploys one as ``pyfaas store deploy`` does, by posting its spec
to ``/system/functions``.
"""

from __future__ import annotations

from aiohttp import web

from pyfaas.builder.store import list_store
from pyfaas.gateway.responses import json_response


async def store_list(request: web.Request) -> web.Response:
    return json_response(
        [
            {
                "name": item.name,
                "title": item.title,
                "description": item.description,
                "image": item.image,
                "fprocess": item.fprocess,
                "environment": item.environment,
                "labels": item.labels,
                "annotations": item.annotations,
                "readOnlyRootFilesystem": item.read_only_root_filesystem,
            }
            for item in list_store()
        ]
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ui/api/store", store_list)
