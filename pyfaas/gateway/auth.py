"""Basic auth on ``/system/*`` and ``/ui/``, as the OpenFaaS gateway does it.

Invocations (``/function/*``, ``/async-function/*``), ``/healthz`` and
``/metrics`` stay open, and so does the portal's shell (``/ui/`` and
``/ui/static/*``: the page and its modules, the same for everyone): the
page asks for the credentials in a form of its own, instead of the
browser's prompt, and sends them on each of its requests. The page's own
requests carry ``X-Requested-With: pyfaas-portal``, and their 401 has no
``WWW-Authenticate``, so that a wrong password comes back to the form
rather than as the browser's prompt; every other client gets the challenge.

When auth is disabled the middleware is simply not installed, so any
``Authorization`` header (faas-cli may send an empty ``Bearer ``) is
ignored; when enabled, anything but valid basic credentials is an
``Unauthorized`` (401) carrying ``WWW-Authenticate: Basic
realm="Restricted"``, rendered by the error middleware around this one.

A browser that holds the credentials for the realm (a user who answered its
prompt, or opened ``http://user:password@host/``) sends them with any
request, a page of another site's included. So a protected request
that a browser marks as coming from elsewhere (``Sec-Fetch-Site`` other than
``same-origin`` or ``none``, or an ``Origin`` that is not this gateway's) is
a 403 whatever its credentials; ``same-site`` is refused too, as another
port on the same host is the same site. Clients that are not browsers
(faas-cli, the SDK) send neither header and are unaffected.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from pyfaas.credentials import Credentials
from pyfaas.errors import Forbidden, Unauthorized

PROTECTED_PREFIXES = ("/system", "/ui")
CHALLENGE = 'Basic realm="Restricted"'
# The header the portal sends with each of its requests, and its value.
PORTAL_HEADER = "X-Requested-With"
PORTAL = "pyfaas-portal"
# Whether the request carried the admin credentials: the shell, served to
# anyone, lists the functions (for a browser without JavaScript) only then.
SIGNED_IN = web.RequestKey("signed_in", bool)


def shell(path: str) -> bool:
    """Whether ``path`` is the portal's page or one of its static files."""
    return path in ("/ui", "/ui/") or path.startswith("/ui/static/")


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


def admin_login(credentials: Credentials | None) -> str | None:
    """The ``Authorization`` value of the admin login, as faas-cli sends it; None without one.

    The gateway drops a header carrying exactly this before a call reaches a
    function or the queue: a CLI or SDK that sends its saved login with every
    request (faas-cli does) must not hand the admin password to a function,
    nor leave it in call records and dead letters. Other ``Authorization``
    values (a function's own tokens) pass, as in OpenFaaS.
    """
    if credentials is None:
        return None
    pair = f"{credentials.user}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


FETCHED_HERE = frozenset({"same-origin", "none"})


def cross_site(request: web.Request) -> bool:
    """True if a browser sent ``request`` on behalf of a page of another origin."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in FETCHED_HERE:
        return True
    origin = request.headers.get("Origin")
    # The host only: behind a TLS proxy the scheme seen here is not the page's.
    return origin is not None and urlsplit(origin).netloc != request.host


def auth_middleware(credentials: Credentials) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PROTECTED_PREFIXES):
            return await handler(request)
        signed_in = check_basic(request.headers.get("Authorization"), credentials)
        if not signed_in and not shell(request.path):
            portal = request.headers.get(PORTAL_HEADER) == PORTAL
            raise Unauthorized("invalid credentials", None if portal else CHALLENGE)
        if cross_site(request):
            raise Forbidden("cross-site request refused")
        request[SIGNED_IN] = signed_in
        return await handler(request)

    return middleware
