"""The portal's static files: the page at ``/ui/`` and its assets at ``/ui/static/``.

The page and its files are served without credentials (``gateway.auth``:
the page asks for them in its own form); the page lists the functions
inside ``<noscript>``, for a browser without JavaScript, only to a request
that carries the credentials (``http://user:password@host/ui/``).

Each answer carries a Content-Security-Policy that allows this origin only,
so the page can load and send nothing anywhere else, and ``no-cache`` so a
new pyfaas's page is never mixed with an old one's modules.
"""

from __future__ import annotations

import mimetypes
from html import escape
from importlib import resources
from pathlib import Path

from aiohttp import web

from pyfaas.errors import NotFound
from pyfaas.gateway.auth import SIGNED_IN
from pyfaas.gateway.state import STATE

PREFIX = "/ui/static/"
FUNCTIONS_MARK = b"<!--functions-->"
NOT_SIGNED_IN = b'<tr><td colspan="3">Open http://USER:PASSWORD@HOST/ui/ to see them.</td></tr>'
POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# What the page's files are, whatever the host's mime.types says (a module
# script must be served as JavaScript).
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


def static_root() -> Path:
    return Path(str(resources.files("pyfaas.gateway.portal") / "static"))


def _file(root: Path, relative: str) -> Path:
    """The file ``relative`` names under ``root``; NotFound for anything outside or absent."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise NotFound(f"{PREFIX}{relative} not found")
    return path


def _answer(body: bytes, name: str) -> web.Response:
    guessed = mimetypes.guess_type(name)[0]
    kind = TYPES.get(Path(name).suffix) or guessed or "application/octet-stream"
    response = web.Response(body=body, content_type=kind)
    if kind.startswith("text/"):
        response.charset = "utf-8"
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def index(request: web.Request) -> web.Response:
    state = request.app[STATE]
    page = _file(static_root(), "index.html").read_bytes()
    if not request.get(SIGNED_IN, True):  # no middleware: auth is off
        return _answer(page.replace(FUNCTIONS_MARK, NOT_SIGNED_IN), "index.html")
    functions = await state.provider.list_functions(state.settings.function_namespace)
    rows = "".join(
        f"<tr><td>{escape(f.name)}</td><td>{escape(f.image)}</td>"
        f"<td>{f.available_replicas}/{f.replicas}</td></tr>"
        for f in functions
    )
    return _answer(page.replace(FUNCTIONS_MARK, rows.encode()), "index.html")


async def asset(request: web.Request) -> web.Response:
    path = _file(static_root(), request.match_info["path"])
    return _answer(path.read_bytes(), path.name)


async def bare(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ui", bare)
    app.router.add_get("/ui/", index)
    app.router.add_get(PREFIX + "{path:.+}", asset)
