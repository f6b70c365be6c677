"""Secrets: ``/system/secrets``, as faas-cli sends them (``value`` and ``rawValue``)."""

from __future__ import annotations

import base64
import contextlib
import json

from pyfaas.types import Secret

from ._base import JSON_HEADERS, Transport


class SecretsAPI(Transport):
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
            headers=JSON_HEADERS,
            ok=(200, 202),
            fallback=f"no such secret: {name}",
        )


def _secret_body(name: str, value: bytes, namespace: str | None) -> dict[str, str]:
    body = {"name": name, "rawValue": base64.b64encode(value).decode()}
    # Binary values travel in rawValue alone.
    with contextlib.suppress(UnicodeDecodeError):
        body["value"] = value.decode("utf-8")
    if namespace:
        body["namespace"] = namespace
    return body
