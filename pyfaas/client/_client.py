"""``GatewayClient``: a typed, synchronous client of the OpenFaaS gateway API.

It is the sum of one mixin per part of the API (``_functions``, ``_secrets``,
``_logs``, ``_calls``, ``_dead_letters``, ``_bin``, ``_images``, over the transport in ``_base``),
plus invocation, which goes through ``_invoke``'s standard-library path. It
never prints; every failure is raised as a ``pyfaas.errors`` class whose
message is the gateway's one-line answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._bin import BinAPI
from ._calls import CallsAPI
from ._dead_letters import DeadLettersAPI
from ._functions import FunctionsAPI
from ._images import ImagesAPI
from ._invoke import Body, InvokeResult, function_ref, send, submitted_call_id
from ._logs import LogsAPI
from ._secrets import SecretsAPI


class GatewayClient(FunctionsAPI, SecretsAPI, LogsAPI, CallsAPI, DeadLettersAPI, BinAPI, ImagesAPI):
    """One gateway; ``auth`` is the basic-auth pair, or ``None`` for an open gateway.

    ``token`` is sent as ``Authorization: Bearer`` instead of ``auth``;
    ``verify=False`` accepts any TLS certificate (a self-signed gateway).
    """

    def invoke(
        self,
        name: str,
        body: Body = b"",
        *,
        namespace: str | None = None,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        query: Iterable[tuple[str, str]] = (),
        path: str = "",
    ) -> InvokeResult:
        """Call ``/function/NAME.NS`` synchronously; any status is returned, not raised.

        Invocations carry the bearer token, if given, but never the basic-auth login:
        the function receives the request's headers, and the login is the gateway's.
        """
        url = f"/function/{function_ref(name, namespace)}{path}"
        return self._send_invocation(method.upper(), url, body, headers, query)

    def invoke_async(
        self,
        name: str,
        body: Body = b"",
        *,
        namespace: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Iterable[tuple[str, str]] = (),
        path: str = "",
        callback_url: str | None = None,
    ) -> str:
        """Queue a call through ``/async-function``; returns its call id.

        ``headers`` may steer it: ``X-Delay-Seconds`` or ``X-Not-Before``,
        ``X-Expire-After``, ``Idempotency-Key`` (or ``X-Call-Id``).
        """
        sent = dict(headers or {})
        if callback_url:
            sent["X-Callback-Url"] = callback_url
        url = f"/async-function/{function_ref(name, namespace)}{path}"
        return submitted_call_id(self._send_invocation("POST", url, body, sent, query), name)

    def _send_invocation(
        self,
        method: str,
        url: str,
        body: Body,
        headers: Mapping[str, str] | None,
        query: Iterable[tuple[str, str]],
    ) -> InvokeResult:
        return send(
            self.base_url,
            method,
            url,
            body,
            headers=headers,
            query=query,
            # Never the admin login: the function gets the request's headers.
            auth=None,
            timeout=self._timeout,
            token=self._token,
            verify=self._verify,
        )
