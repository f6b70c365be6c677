"""Translation of HTTP answers and httpx failures into the pyfaas error tree.

The gateway writes every error as a one-line ``text/plain`` body; that line
becomes the message. When the body is empty (a 404 from ``GET
/system/function``, for instance) the caller's ``fallback`` says what was
missing instead of a bare status code.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

from pyfaas.errors import (
    BadGateway,
    BadRequest,
    Conflict,
    GatewayTimeout,
    MethodNotAllowed,
    NotFound,
    NotImplementedFeature,
    PayloadTooLarge,
    PyfaasError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)

_BY_STATUS: dict[int, type[PyfaasError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: TooManyRequests,
    501: NotImplementedFeature,
    502: BadGateway,
    503: ServiceUnavailable,
    504: GatewayTimeout,
}


def error_for_status(status: int, body: str, fallback: str) -> PyfaasError:
    """The error for a non-2xx answer; the message is the body's first line."""
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    message = lines[0] if lines else fallback
    if status == 401 and not lines:
        message = "unauthorized: run `pyfaas login` with the gateway's credentials"
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = BadRequest if 400 <= status < 500 else PyfaasError
        message = f"{message} (HTTP {status})"
    return cls(message)


def translate_transport(exc: httpx.HTTPError, url: str) -> PyfaasError:
    """One line for a failure that produced no HTTP answer at all."""
    import httpx

    untrusted = _certificate_error(exc)
    if untrusted is not None:
        from ._invoke import untrusted_certificate

        return untrusted_certificate(url, untrusted)
    if isinstance(exc, httpx.TimeoutException):
        return GatewayTimeout(f"timed out talking to {url}")
    if isinstance(exc, httpx.ConnectError):
        return ServiceUnavailable(f"cannot connect to {url}: is the gateway running?")
    return BadGateway(f"request to {url} failed: {exc}")


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate failure behind an httpx error, if that is what it was: httpx
    reports it as a ``ConnectError``, which would otherwise read as a closed port."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
