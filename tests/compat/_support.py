"""What the compatibility suite shares: a real platform, OpenFaaS-shaped clients, Go rules.

The certifier and faas-cli are Go programs; they decode the gateway's JSON
with ``encoding/json`` into fixed structs. ``assert_go_status`` checks a
FunctionStatus object against what that decoding tolerates (and what the
certifier then compares), so a shape that would break a Go client fails
here first.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Platform, start_platform, stop_platform
from tests.helpers import wait_for

NAMESPACE = "openfaas-fn"
ALPINE = "docker.io/functions/alpine:latest"
FAAS_CLI_AGENT = "faas-cli/0.17.4"
GO_AGENT = "Go-http-client/1.1"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
# encoding/json into uint64 accepts only non-negative integer literals.
GO_UINT_FIELDS = ("replicas", "availableReplicas")
GO_STRING_FIELDS = ("name", "image", "namespace", "envProcess")
GO_MAP_FIELDS = ("envVars", "labels", "annotations")


@dataclass
class Gateway:
    """A running platform with the two clients the certifier uses.

    ``api`` carries the admin credentials (``-enableAuth``); ``invoker`` never
    sends them and never follows redirects, like the certifier's invoke client.
    """

    platform: Platform
    api: httpx.Client
    invoker: httpx.Client

    @property
    def url(self) -> str:
        return self.platform.url


@contextmanager
def running_gateway(
    tmp: Path, user_agent: str, env: dict[str, str] | None = None
) -> Iterator[Gateway]:
    platform = start_platform(tmp, env)
    headers = {"User-Agent": user_agent}
    api = httpx.Client(base_url=platform.url, auth=platform.auth(), headers=headers, timeout=30)
    invoker = httpx.Client(
        base_url=platform.url, headers=headers, timeout=60, follow_redirects=False
    )
    try:
        yield Gateway(platform, api, invoker)
    finally:
        api.close()
        invoker.close()
        stop_platform(platform)


def deployment(name: str, fprocess: str, *, image: str = ALPINE, **fields: Any) -> dict[str, Any]:
    """A FunctionDeployment body as faas-cli's proxy package marshals it."""
    body: dict[str, Any] = {
        "service": name,
        "image": image,
        "namespace": NAMESPACE,
        "envProcess": fprocess,
    }
    body.update(fields)
    return body


def deploy(gateway: Gateway, body: Mapping[str, Any]) -> None:
    response = gateway.api.post("/system/functions", json=body)
    assert response.status_code in (200, 202), response.text


def status(gateway: Gateway, name: str) -> dict[str, Any]:
    response = gateway.api.get(
        f"/system/function/{name}", params={"namespace": NAMESPACE, "usage": "1"}
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert_go_status(found)
    return found


def wait_available(gateway: Gateway, name: str, timeout: float = 60) -> None:
    wait_for(lambda: status(gateway, name).get("availableReplicas", 0) >= 1, timeout, 0.1)


def invoke_until(
    gateway: Gateway,
    method: str,
    path: str,
    expected: int = 200,
    *,
    content: bytes = b"",
    timeout: float = 25,
) -> httpx.Response:
    """The certifier's invoke helper: retry until ``expected`` (401 aborts at once)."""
    deadline = time.monotonic() + timeout
    while True:
        response = gateway.invoker.request(method, path, content=content)
        if response.status_code == expected:
            return response
        assert response.status_code != 401, f"{path} asked for credentials"
        if time.monotonic() > deadline:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text!r}")
        time.sleep(0.1)


def assert_go_status(item: Mapping[str, Any]) -> None:
    """``item`` decodes into faas-provider's FunctionStatus the way the certifier needs."""
    for key in GO_STRING_FIELDS:
        assert isinstance(item.get(key, ""), str), f"{key}: {item.get(key)!r} is not a string"
    for key in GO_MAP_FIELDS:
        value = item.get(key)
        assert value is None or isinstance(value, dict), f"{key}: {value!r} is not an object"
        assert all(isinstance(v, str) for v in (value or {}).values()), f"{key}: non-string value"
    # The certifier dereferences both maps: they must be objects, not null or absent.
    assert isinstance(item.get("labels"), dict), "labels must be an object"
    assert isinstance(item.get("annotations"), dict), "annotations must be an object"
    for key in GO_UINT_FIELDS:
        value = item.get(key, 0)
        assert type(value) is int, f"{key}: {value!r} is not an integer literal"
        assert value >= 0, f"{key}: {value!r} is negative"
    assert isinstance(item.get("invocationCount", 0), int | float)
    created = item.get("createdAt")
    assert isinstance(created, str), f"createdAt: {created!r} is not a string"
    assert RFC3339.match(created), f"createdAt: {created!r} is not RFC 3339 with a zone"
    for key in ("constraints", "secrets"):
        value = item.get(key)
        assert value is None or isinstance(value, list), f"{key}: {value!r} is not a list"


class Load:
    """``workers`` threads each POSTing ``rate`` calls a second to ``path``, no keep-alive."""

    def __init__(self, url: str, path: str, *, workers: int, rate: float, seconds: float) -> None:
        self.codes: list[int] = []
        self._url, self._path, self._rate = url, path, rate
        self._stop_at = time.monotonic() + seconds
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        with httpx.Client(base_url=self._url, timeout=10) as client:
            next_at = time.monotonic()
            while next_at < self._stop_at and not self._stopped.is_set():
                response = client.post(self._path, content=b"load", headers={"Connection": "close"})
                self.codes.append(response.status_code)
                next_at += 1 / self._rate
                self._stopped.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> list[int]:
        """End the load now (or wait for its end) and give back every status seen."""
        self._stopped.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self.codes

    def join(self) -> list[int]:
        for thread in self._threads:
            thread.join(timeout=max(0.0, self._stop_at - time.monotonic()) + 30)
        return self.codes
