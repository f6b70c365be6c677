"""Functions and the gateway itself: deploy, list, scale, remove; info, namespaces, health.

It sends what faas-cli sends (namespace in the body for delete and scale,
``PUT`` then ``POST`` on 404 for deploy) so the same calls work against
pyfaas and against OpenFaaS.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from pyfaas.errors import PyfaasError
from pyfaas.types import FunctionDeployment, FunctionStatus

from ._base import JSON_HEADERS, OK, Transport
from ._errors import error_for_status
from ._models import GatewayInfo


class FunctionsAPI(Transport):
    """``/system/functions``, ``/system/function/NAME``, ``/system/scale-function``,
    ``/system/info``, ``/system/namespaces`` and ``/healthz``."""

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
            "DELETE", "/system/functions", content=json.dumps(body), headers=JSON_HEADERS
        )
        if response.status_code == 404 and missing_ok:
            return False
        if response.status_code not in OK:
            raise error_for_status(response.status_code, response.text, f"no such function: {name}")
        return True

    def list_functions(self, namespace: str | None = None) -> list[FunctionStatus]:
        response = self._call("GET", "/system/functions", params=self._ns(namespace), ok=(200,))
        data = self._json(response)
        if not isinstance(data, list):
            raise PyfaasError("the gateway sent a function list that is not a JSON array")
        return [self._status(item) for item in data]

    def get_function(
        self, name: str, namespace: str | None = None, *, usage: bool = False
    ) -> FunctionStatus:
        """A function's status; with ``usage``, its replicas' CPU and memory as well."""
        params = self._ns(namespace)
        if usage:
            params["usage"] = "1"
        response = self._call(
            "GET",
            f"/system/function/{quote(name)}",
            params=params,
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

    # -- the gateway ----------------------------------------------------------

    def info(self) -> GatewayInfo:
        response = self._call("GET", "/system/info", ok=(200,))
        try:
            return GatewayInfo.model_validate(self._json(response))
        except ValidationError as exc:
            raise PyfaasError(f"the gateway sent invalid /system/info: {exc}") from exc

    def namespaces(self) -> list[str]:
        data = self._json(self._call("GET", "/system/namespaces", ok=(200,)))
        return [str(item) for item in data] if isinstance(data, list) else []

    def hosts(self) -> list[dict[str, Any]]:
        """``GET /system/hosts`` (a pyfaas extension): the platform's live hosts."""
        data = self._json(self._call("GET", "/system/hosts", ok=(200,)))
        if not isinstance(data, list):
            raise PyfaasError("the gateway sent a host list that is not a JSON array")
        return [dict(item) for item in data if isinstance(item, dict)]

    def healthz(self) -> bool:
        """True if ``GET /healthz`` answers 200; never raises for a closed port."""
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def check_auth(self) -> None:
        """What ``faas-cli login`` checks: ``GET /system/functions`` answers 200."""
        self._call("GET", "/system/functions", ok=(200,))
