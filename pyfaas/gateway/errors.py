"""The one place where the gateway turns errors into responses.

Handlers raise ``PyfaasError`` subclasses; this middleware renders each as a
one-line ``text/plain`` body with the class's status, the way Go's
``http.Error`` does (trailing newline, ``nosniff``). aiohttp's own 404/405
for unknown routes and wrong methods get the same one-line shape.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from pyfaas.errors import PyfaasError

log = logging.getLogger("pyfaas.gateway")


def error_response(status: int, message: str) -> web.Response:
    line = " ".join(message.split())
    return web.Response(
        status=status,
        text=line + "\n",
        headers={"X-Content-Type-Options": "nosniff"},
        charset="utf-8",
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PyfaasError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(exc.status, exc.text or exc.reason)
        allow = exc.headers.get("Allow")
        if allow is not None:
            response.headers["Allow"] = allow
        auth = exc.headers.get("WWW-Authenticate")
        if auth is not None:
            response.headers["WWW-Authenticate"] = auth
        return response
    except ConnectionResetError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal server error")
