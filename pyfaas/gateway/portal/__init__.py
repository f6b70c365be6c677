"""The operator's portal at ``/ui/``: static pages that drive the gateway's own API.

The page is plain HTML, CSS and JavaScript modules under ``static/``, with
no build step and nothing fetched from elsewhere: it reads and acts through
``/system/...``, ``/function/...`` and ``/async-function/...`` as any
client does. What the API lacks for the page is a small route here under
``/ui/api/`` (``store``). The page and its static files are served to
anyone (they hold nothing but the page's code); the page asks for the
admin credentials in its own form and sends them with each request, and
every other ``/ui`` path is behind the same Basic auth as ``/system``
(``gateway.auth``).
"""

from __future__ import annotations

from aiohttp import web

from pyfaas.gateway.portal import files, store


def add_routes(app: web.Application) -> None:
    files.add_routes(app)
    store.add_routes(app)
