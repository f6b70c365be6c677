"""Function invocation over the standard library's ``http.client``.

``pyfaas invoke`` is one Python process per call, and the lab runs it in
loops: importing httpx and pydantic costs about 200 ms a process, which would
double the time ten one-second calls take. ``http.client`` imports in about
15 ms, so invocations (the CLI's hot path) go through here, and
``GatewayClient.invoke`` delegates here too, so there is one implementation.
"""

from __future__ import annotations

import base64
import http.client
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from pyfaas import __version__
from pyfaas.errors import (
    BadGateway,
    BadRequest,
    ConfigError,
    GatewayTimeout,
    PyfaasError,
    ServiceUnavailable,
)

Body = bytes | Iterable[bytes]


@dataclass(frozen=True)
class InvokeResult:
    """A function's answer, whatever its status: the caller decides what is an error."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    reason: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def call_id(self) -> str | None:
        return self.headers.get("x-call-id")

    def check(self) -> InvokeResult:
        """Return self if 2xx; otherwise raise the error for the status, with the body."""
        if self.ok:
            return self
        from ._errors import error_for_status

        text = self.body.decode("utf-8", "replace")
        raise error_for_status(self.status, text, f"function returned HTTP {self.status}")


def send(
    base_url: str,
    method: str,
    path: str,
    body: Body = b"",
    *,
    headers: Mapping[str, str] | None = None,
    query: Iterable[tuple[str, str]] = (),
    auth: tuple[str, str] | None = None,
    timeout: float | None = None,
    token: str | None = None,
    verify: bool = True,
) -> InvokeResult:
    """One request; the body is streamed (chunked) when it is not ``bytes``.

    ``token`` is sent as ``Authorization: Bearer`` instead of ``auth``;
    ``verify=False`` accepts any TLS certificate (faas-cli's ``--tls-no-verify``).
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"gateway URL {base_url!r} is not an http(s) URL")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=tls_context(verify)
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    sent = {"User-Agent": f"pyfaas-cli/{__version__}", **dict(headers or {})}
    credential = authorization(auth, token)
    if credential is not None:
        sent["Authorization"] = credential
    encoded = urlencode(list(query))
    target = parts.path.rstrip("/") + path + (f"?{encoded}" if encoded else "")
    try:
        if isinstance(body, bytes):
            conn.request(method, target, body=body, headers=sent)
        else:
            conn.request(method, target, body=body, headers=sent, encode_chunked=True)
        response = conn.getresponse()
        data = response.read()
    except TimeoutError as exc:
        raise GatewayTimeout(f"timed out talking to {base_url}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise untrusted_certificate(base_url, exc) from exc
    except ConnectionRefusedError as exc:
        raise ServiceUnavailable(f"cannot connect to {base_url}: is the gateway running?") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise BadGateway(f"request to {base_url} failed: {exc}") from exc
    finally:
        conn.close()
    return InvokeResult(
        status=response.status,
        headers={k.lower(): v for k, v in response.getheaders()},
        body=data,
        reason=response.reason,
    )


def authorization(auth: tuple[str, str] | None, token: str | None) -> str | None:
    """The ``Authorization`` header: a bearer ``token`` wins over basic ``auth``, as
    faas-cli's ``--token`` replaces the saved credentials."""
    if token:
        return f"Bearer {token}"
    if auth is not None:
        encoded = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return f"Basic {encoded}"
    return None


def tls_context(verify: bool) -> ssl.SSLContext:
    """The system's trust store, or, with ``verify=False``, a context that trusts any
    certificate and name (a self-signed gateway, as with ``--tls-no-verify``)."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def untrusted_certificate(base_url: str, exc: ssl.SSLCertVerificationError) -> BadGateway:
    reason = exc.verify_message or exc.reason or "verification failed"
    return BadGateway(
        f"TLS certificate of {base_url} is not trusted ({reason}): "
        "use --tls-no-verify to skip the check"
    )


def function_ref(name: str, namespace: str | None) -> str:
    """``NAME.NS``: faas-cli always names the namespace, so the default is literally
    ``openfaas-fn``; a name that already carries ``.NS`` is kept."""
    from pyfaas.naming import DEFAULT_NAMESPACE

    if not name or "/" in name:
        raise BadRequest(f"invalid function name {name!r}")
    if "." in name:
        return name
    return f"{name}.{namespace or DEFAULT_NAMESPACE}"


def submitted_call_id(result: InvokeResult, name: str) -> str:
    """The call id of an accepted asynchronous call; any other answer raises."""
    if result.status != 202:
        from ._errors import error_for_status

        raise error_for_status(
            result.status, result.body.decode("utf-8", "replace"), f"no such function: {name}"
        )
    return result.headers.get("x-call-id", "")


__all__ = [
    "Body",
    "InvokeResult",
    "PyfaasError",
    "authorization",
    "function_ref",
    "send",
    "submitted_call_id",
    "tls_context",
    "untrusted_certificate",
]
