"""The one error hierarchy of pyfaas, each class carrying its HTTP status.

Handlers raise these; exactly one place per server (the error middleware)
renders them as a one-line ``text/plain`` response with the class's status
and the error's ``headers``: the ones its status calls for (``Allow`` on a
405, ``WWW-Authenticate`` on a 401, ``X-Call-Id`` on a ``QueueUncertain``).
Adapters (HTTP clients, subprocesses, SQLite, NATS) translate foreign
exceptions into this tree at their boundary with ``raise X from exc``.

    PyfaasError (500)
    ├── ConfigError (500)            bad setting, names the key and value
    ├── BadRequest (400)
    │   ├── InvalidName (400)
    │   └── InvalidBody (400)
    ├── Unauthorized (401)            WWW-Authenticate: the challenge, when given
    ├── NotFound (404)
    ├── MethodNotAllowed (405)        Allow: the methods allowed, when given
    ├── RequestTimeout (408)
    ├── Conflict (409)
    ├── PayloadTooLarge (413)
    ├── ExpectationFailed (417)
    ├── Unprocessable (422)
    ├── TooManyRequests (429)
    ├── NotImplementedFeature (501)
    ├── BadGateway (502)
    ├── ServiceUnavailable (503)
    │   └── QueueUnavailable (503)
    │       └── QueueUncertain (503)  X-Call-Id: the call that may have been stored
    └── GatewayTimeout (504)
"""

from __future__ import annotations

from collections.abc import Iterable

Headers = tuple[tuple[str, str], ...]


class PyfaasError(Exception):
    """Base of every error pyfaas raises on purpose."""

    status: int = 500

    def __init__(self, message: str) -> None:
        # A response body is one line: never let a newline split it.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)

    @property
    def headers(self) -> Headers:
        """The response headers this error's answer carries besides the body's own."""
        return ()


class ConfigError(PyfaasError):
    """A setting has a bad value; the message names the key and the value."""


class BadRequest(PyfaasError):
    status = 400


class InvalidName(BadRequest):
    """A function, namespace or secret name breaks the DNS-1123 rules."""


class InvalidBody(BadRequest):
    """A request body is not valid JSON or has wrongly typed fields."""


class Unauthorized(PyfaasError):
    status = 401

    def __init__(self, message: str, challenge: str | None = None) -> None:
        super().__init__(message)
        self.challenge = challenge

    @property
    def headers(self) -> Headers:
        return () if self.challenge is None else (("WWW-Authenticate", self.challenge),)


class Forbidden(PyfaasError):
    status = 403


class NotFound(PyfaasError):
    status = 404


class MethodNotAllowed(PyfaasError):
    status = 405

    def __init__(self, message: str, allow: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.allow = tuple(allow)

    @property
    def headers(self) -> Headers:
        return (("Allow", ", ".join(self.allow)),) if self.allow else ()


class RequestTimeout(PyfaasError):
    """The request's work ran out of time and was stopped (the classic watchdog's
    ``exec_timeout``)."""

    status = 408


class Conflict(PyfaasError):
    status = 409


class PayloadTooLarge(PyfaasError):
    status = 413


class ExpectationFailed(PyfaasError):
    """An ``Expect`` header the server cannot meet (anything but ``100-continue``)."""

    status = 417


class Unprocessable(PyfaasError):
    status = 422


class TooManyRequests(PyfaasError):
    status = 429


class NotImplementedFeature(PyfaasError):
    status = 501


class BadGateway(PyfaasError):
    status = 502


class ServiceUnavailable(PyfaasError):
    status = 503


class QueueUnavailable(ServiceUnavailable):
    """The queue cannot durably take a call right now."""


class QueueUncertain(QueueUnavailable):
    """The queue cannot tell whether it stored a call: it may run.

    ``call_id`` names it, so that a submission again with that ``X-Call-Id``
    runs it exactly once.
    """

    def __init__(self, message: str, call_id: str) -> None:
        super().__init__(message)
        self.call_id = call_id

    @property
    def headers(self) -> Headers:
        # The caller needs the id to submit the call again and run it once.
        return (("X-Call-Id", self.call_id),)


class GatewayTimeout(PyfaasError):
    status = 504


__all__ = [
    "BadGateway",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "ExpectationFailed",
    "GatewayTimeout",
    "Headers",
    "InvalidBody",
    "InvalidName",
    "MethodNotAllowed",
    "NotFound",
    "NotImplementedFeature",
    "PayloadTooLarge",
    "PyfaasError",
    "QueueUnavailable",
    "QueueUncertain",
    "RequestTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
]
