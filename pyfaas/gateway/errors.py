"""The one place where the gateway turns errors into responses.

Handlers on either server raise ``PyfaasError`` subclasses; ``error_parts``
turns one into its status, its headers and a one-line ``text/plain`` body,
the way Go's ``http.Error`` writes it (trailing newline, ``nosniff``), plus
the headers the error carries (``Allow``, ``WWW-Authenticate``,
``X-Call-Id``). The aiohttp application (``/system``, ``/ui``, ...) renders
through ``error_middleware``, which gives aiohttp's own 404/405 for unknown
routes and wrong methods the same shape; the front on ``pyfaas.httpd``
(``/function``, ``/async-function``) renders through ``front_error``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from pyfaas.errors import PyfaasError
from pyfaas.httpd.messages import Response

log = logging.getLogger("pyfaas.gateway")
# The headers of aiohttp's own errors that say how to ask again.
_KEPT_FROM_AIOHTTP = ("Allow", "WWW-Authenticate")

Parts = tuple[int, list[tuple[str, str]], bytes]


def error_parts(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Parts:
    line = " ".join(message.split())
    out = [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
    out.extend(headers)
    return status, out, (line + "\n").encode()


def front_error(exc: PyfaasError) -> Response:
    """The front's answer to an error raised on an invocation route."""
    return Response(*error_parts(exc.status, exc.message, exc.headers))


def _api_response(
    status: int, message: str, headers: Iterable[tuple[str, str]] = ()
) -> web.Response:
    status, out, body = error_parts(status, message, headers)
    response = web.Response(status=status, body=body)
    for name, value in out:
        response.headers[name] = value
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PyfaasError as exc:
        return _api_response(exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kept = [(k, exc.headers[k]) for k in _KEPT_FROM_AIOHTTP if k in exc.headers]
        return _api_response(exc.status, exc.text or exc.reason, kept)
    except ConnectionResetError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _api_response(500, "internal server error")
