"""The client's transport: one ``httpx.Client`` per gateway, and how answers become errors.

Each group of the gateway's API (functions, secrets, logs, asynchronous
calls, dead letters) is a mixin over ``Transport``; ``GatewayClient`` is their
sum, so a group's module holds only its requests and the shapes they read.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import httpx

from pyfaas import __version__
from pyfaas.errors import PyfaasError

from ._errors import error_for_status, translate_transport
from ._invoke import authorization, tls_context

OK = (200, 201, 202)
JSON_HEADERS = {"Content-Type": "application/json"}


class Transport:
    """One gateway; ``auth`` is the basic-auth pair, or ``None`` for an open gateway.

    ``token`` is sent as ``Authorization: Bearer`` instead of ``auth``;
    ``verify=False`` accepts any TLS certificate (a self-signed gateway).
    """

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, str] | None = None,
        timeout: float | None = 60.0,
        *,
        token: str | None = None,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = None if token else auth
        self._token = token
        self._verify = verify
        self._timeout = timeout
        headers = {"User-Agent": f"pyfaas-cli/{__version__}"}
        credential = authorization(self._auth, token)
        if credential is not None:
            headers["Authorization"] = credential
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            # httpx's own trust store when verifying; a context that trusts anything if not.
            verify=True if verify else tls_context(verify=False),
            transport=transport,
            follow_redirects=False,  # a function's 302 belongs to the caller
            headers=headers,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise translate_transport(exc, self.base_url) from exc

    def _send_raw(self, method: str, path: str) -> tuple[httpx.Response, bytes]:
        """The answer and its body exactly as sent: not decompressed, so the body
        matches a ``Content-Encoding`` the function itself set."""
        try:
            with self._http.stream(method, path) as response:
                return response, b"".join(response.iter_raw())
        except httpx.HTTPError as exc:
            raise translate_transport(exc, self.base_url) from exc

    def _call(
        self, method: str, path: str, *, fallback: str = "", ok: Iterable[int] = OK, **kwargs: Any
    ) -> httpx.Response:
        response = self._send(method, path, **kwargs)
        if response.status_code not in tuple(ok):
            raise error_for_status(
                response.status_code,
                response.text,
                fallback or f"{method} {path}: HTTP {response.status_code}",
            )
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise PyfaasError(f"the gateway sent invalid JSON for {response.url.path}") from exc

    @staticmethod
    def _ns(namespace: str | None) -> dict[str, str]:
        return {"namespace": namespace} if namespace else {}
