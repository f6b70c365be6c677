"""Basic auth on ``/system/*`` and ``/ui/``, as the OpenFaaS gateway does it.

Invocations (``/function/*``, ``/async-function/*``), ``/healthz`` and
``/metrics`` stay open. When auth is disabled the middleware is simply not
installed, so any ``Authorization`` header (faas-cli may send an empty
``Bearer ``) is ignored; when enabled, anything but valid basic credentials
is an ``Unauthorized`` (401) carrying ``WWW-Authenticate: Basic
realm="Restricted"``, rendered by the error middleware around this one.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from pyfaas.credentials import Credentials
from pyfaas.errors import Unauthorized

PROTECTED_PREFIXES = ("/system", "/ui")
CHALLENGE = 'Basic realm="Restricted"'


def check_basic(header: str | None, credentials: Credentials) -> bool:
    """True if ``header`` carries exactly these credentials (constant-time compare)."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = decoded.partition(":")
    # Compare both parts whatever the first result, so timing says nothing.
    user_ok = hmac.compare_digest(user.encode(), credentials.user.encode())
    password_ok = hmac.compare_digest(password.encode(), credentials.password.encode())
    return bool(sep) and user_ok and password_ok


def auth_middleware(credentials: Credentials) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(PROTECTED_PREFIXES) and not check_basic(
            request.headers.get("Authorization"), credentials
        ):
            raise Unauthorized("invalid credentials", CHALLENGE)
        return await handler(request)

    return middleware
