"""``GatewayClient``: a typed, synchronous client of the OpenFaaS gateway API.

It sends what faas-cli sends (namespace in the body for delete and scale,
``PUT`` then ``POST`` on 404 for deploy) so the same calls work against
pyfaas and against OpenFaaS. It never prints; every failure is raised as a
``pyfaas.errors`` class whose message is the gateway's one-line answer.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from pyfaas import __version__
from pyfaas.errors import PyfaasError
from pyfaas.types import (
    CallStatus,
    FunctionDeployment,
    FunctionStatus,
    LogMessage,
    Secret,
    format_time,
)

from ._errors import error_for_status, translate_transport
from ._invoke import (
    Body,
    InvokeResult,
    authorization,
    function_ref,
    send,
    submitted_call_id,
    tls_context,
)
from ._models import GatewayInfo, QueueSummary, call_status_from_wire

_OK = (200, 201, 202)


class GatewayClient:
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

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise translate_transport(exc, self.base_url) from exc

    def _call(
        self, method: str, path: str, *, fallback: str = "", ok: Iterable[int] = _OK, **kwargs: Any
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

    # -- functions ------------------------------------------------------------

    def create(self, spec: FunctionDeployment) -> int:
        """``POST /system/functions``; returns the status (200 or 202)."""
        body = spec.model_dump(by_alias=True, exclude_none=True)
        response = self._call(
            "POST", "/system/functions", json=body, ok=(200, 202), fallback="deploy failed"
        )
        return response.status_code

    def update(self, spec: FunctionDeployment) -> int:
        """``PUT /system/functions``; ``NotFound`` if the function does not exist."""
        body = spec.model_dump(by_alias=True, exclude_none=True)
        response = self._call(
            "PUT",
            "/system/functions",
            json=body,
            ok=(200, 202),
            fallback=f"no such function: {spec.service}",
        )
        return response.status_code

    def deploy(
        self, spec: FunctionDeployment, *, update: bool = True, replace: bool = False
    ) -> int:
        """Deploy as faas-cli does: ``PUT``, then ``POST`` if the ``PUT`` says 404.

        ``replace`` deletes first (ignoring 404) and then creates;
        ``update=False`` only creates.
        """
        if replace:
            self.delete(spec.service, spec.namespace, missing_ok=True)
            return self.create(spec)
        if update:
            response = self._send(
                "PUT", "/system/functions", json=spec.model_dump(by_alias=True, exclude_none=True)
            )
            if response.status_code in (200, 202):
                return response.status_code
            if response.status_code != 404:
                raise error_for_status(response.status_code, response.text, "update failed")
        return self.create(spec)

    def delete(self, name: str, namespace: str | None = None, *, missing_ok: bool = False) -> bool:
        """``DELETE /system/functions``; False if absent and ``missing_ok``."""
        body: dict[str, str] = {"functionName": name, **self._ns(namespace)}
        response = self._send(
            "DELETE", "/system/functions", content=json.dumps(body), headers=_JSON_HEADERS
        )
        if response.status_code == 404 and missing_ok:
            return False
        if response.status_code not in _OK:
            raise error_for_status(response.status_code, response.text, f"no such function: {name}")
        return True

    def list_functions(self, namespace: str | None = None) -> list[FunctionStatus]:
        response = self._call("GET", "/system/functions", params=self._ns(namespace), ok=(200,))
        data = self._json(response)
        if not isinstance(data, list):
            raise PyfaasError("the gateway sent a function list that is not a JSON array")
        return [self._status(item) for item in data]

    def get_function(self, name: str, namespace: str | None = None) -> FunctionStatus:
        response = self._call(
            "GET",
            f"/system/function/{quote(name)}",
            params=self._ns(namespace),
            ok=(200,),
            fallback=f"no such function: {name}",
        )
        return self._status(self._json(response))

    @staticmethod
    def _status(data: Any) -> FunctionStatus:
        try:
            # JSON numbers and strings come as they are: validate leniently, as Go decodes.
            return FunctionStatus.model_validate(data, strict=False)
        except ValidationError as exc:
            raise PyfaasError(f"the gateway sent an invalid function status: {exc}") from exc

    def scale(self, name: str, replicas: int, namespace: str | None = None) -> None:
        body = {"serviceName": name, "replicas": replicas, **self._ns(namespace)}
        self._call(
            "POST",
            f"/system/scale-function/{quote(name)}",
            json=body,
            fallback=f"no such function: {name}",
        )

    # -- system ---------------------------------------------------------------

    def info(self) -> GatewayInfo:
        response = self._call("GET", "/system/info", ok=(200,))
        try:
            return GatewayInfo.model_validate(self._json(response))
        except ValidationError as exc:
            raise PyfaasError(f"the gateway sent invalid /system/info: {exc}") from exc

    def namespaces(self) -> list[str]:
        data = self._json(self._call("GET", "/system/namespaces", ok=(200,)))
        return [str(item) for item in data] if isinstance(data, list) else []

    def healthz(self) -> bool:
        """True if ``GET /healthz`` answers 200; never raises for a closed port."""
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def check_auth(self) -> None:
        """What ``faas-cli login`` checks: ``GET /system/functions`` answers 200."""
        self._call("GET", "/system/functions", ok=(200,))

    # -- secrets --------------------------------------------------------------

    def list_secrets(self, namespace: str | None = None) -> list[Secret]:
        response = self._call("GET", "/system/secrets", params=self._ns(namespace), ok=(200, 202))
        data = self._json(response) or []
        return [Secret.model_validate(item, strict=False) for item in data]

    def create_secret(self, name: str, value: bytes, namespace: str | None = None) -> int:
        response = self._call("POST", "/system/secrets", json=_secret_body(name, value, namespace))
        return response.status_code

    def update_secret(self, name: str, value: bytes, namespace: str | None = None) -> int:
        response = self._call(
            "PUT",
            "/system/secrets",
            json=_secret_body(name, value, namespace),
            fallback=f"no such secret: {name}",
        )
        return response.status_code

    def delete_secret(self, name: str, namespace: str | None = None) -> None:
        body = json.dumps({"name": name, **self._ns(namespace)})
        self._call(
            "DELETE",
            "/system/secrets",
            content=body,
            headers=_JSON_HEADERS,
            ok=(200, 202),
            fallback=f"no such secret: {name}",
        )

    # -- logs -----------------------------------------------------------------

    def logs(
        self,
        name: str,
        namespace: str | None = None,
        *,
        follow: bool = False,
        tail: int = -1,
        since: datetime | None = None,
        instance: str | None = None,
    ) -> Iterator[LogMessage]:
        """Log lines of a function, as they arrive; endless while ``follow``."""
        params = {"name": name, "follow": "true" if follow else "false", "tail": str(tail)}
        params.update(self._ns(namespace))
        if since is not None:
            params["since"] = format_time(since)
        if instance:
            params["instance"] = instance
        # A followed stream is quiet for as long as the function is: no read time-out.
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            with self._http.stream(
                "GET", "/system/logs", params=params, timeout=timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise error_for_status(
                        response.status_code, response.text, f"no logs for function: {name}"
                    )
                for line in response.iter_lines():
                    if line.strip():
                        yield _log_message(line)
        except httpx.HTTPError as exc:
            raise translate_transport(exc, self.base_url) from exc

    # -- invocation -----------------------------------------------------------

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
        """Call ``/function/NAME.NS`` synchronously; any status is returned, not raised."""
        url = f"/function/{function_ref(name, namespace)}{path}"
        return send(
            self.base_url,
            method.upper(),
            url,
            body,
            headers=headers,
            query=query,
            auth=self._auth,
            timeout=self._timeout,
            token=self._token,
            verify=self._verify,
        )

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
        """Queue a call through ``/async-function``; returns its call id."""
        sent = dict(headers or {})
        if callback_url:
            sent["X-Callback-Url"] = callback_url
        url = f"/async-function/{function_ref(name, namespace)}{path}"
        result = send(
            self.base_url,
            "POST",
            url,
            body,
            headers=sent,
            query=query,
            auth=self._auth,
            timeout=self._timeout,
            token=self._token,
            verify=self._verify,
        )
        return submitted_call_id(result, name)

    # -- asynchronous calls (pyfaas extensions) -------------------------------

    def call(self, call_id: str) -> CallStatus:
        """What happened to an asynchronous call."""
        response = self._call(
            "GET", f"/system/calls/{quote(call_id)}", ok=(200,), fallback=f"no such call: {call_id}"
        )
        return call_status_from_wire(self._json(response))

    def dead_letters(self, limit: int = 100) -> list[CallStatus]:
        response = self._call("GET", "/system/dead-letters", params={"limit": limit}, ok=(200,))
        data = self._json(response) or []
        return [call_status_from_wire(item) for item in data]

    def replay(self, call_id: str) -> None:
        self._call(
            "POST",
            f"/system/dead-letters/{quote(call_id)}/replay",
            fallback=f"no dead letter with call id {call_id}",
        )

    def queue_stats(self) -> QueueSummary:
        data = self._json(self._call("GET", "/system/queue", ok=(200,)))
        try:
            known = {k: int(data[k]) for k in ("queued", "running", "dead")}
        except (KeyError, TypeError, ValueError) as exc:
            raise PyfaasError(f"the gateway sent invalid queue statistics: {exc}") from exc
        rest = {k: v for k, v in data.items() if k not in known}
        return QueueSummary(**known, extra=rest)


_JSON_HEADERS = {"Content-Type": "application/json"}


def _secret_body(name: str, value: bytes, namespace: str | None) -> dict[str, str]:
    body = {"name": name, "rawValue": base64.b64encode(value).decode()}
    # Binary values travel in rawValue alone.
    with contextlib.suppress(UnicodeDecodeError):
        body["value"] = value.decode("utf-8")
    if namespace:
        body["namespace"] = namespace
    return body


def _log_message(line: str) -> LogMessage:
    try:
        return LogMessage.model_validate_json(line, strict=False)
    except ValidationError as exc:
        raise PyfaasError(f"the gateway sent an invalid log line: {line[:120]}") from exc
