"""Driving the portal in Chromium: a fresh browser and profile per use, page errors kept.

``Browser.open(view)`` launches Chromium with a new user-data-dir (answering
the gateway's Basic auth challenge with the admin credentials, as a user
does at the browser's prompt, unless ``auth=False``) and opens
``/ui/#/VIEW``. Every error the page logs or throws is collected, and
``Browser.close`` fails the test if there was one.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Platform

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


class Browser:
    def __init__(self, playwright: Any, platform: Platform, shots: Path) -> None:
        self.playwright = playwright
        self.platform = platform
        self.shots = shots
        self.errors: list[str] = []
        self._profiles: list[tempfile.TemporaryDirectory[str]] = []
        self._contexts: list[Any] = []

    def open(self, view: str = "functions", *, auth: bool = True, in_url: bool = False) -> Any:
        """A new Chromium on ``/ui/#/VIEW``; answers its page.

        ``in_url``: the credentials in the address (``http://user:pw@host/ui/``)
        instead of answering the challenge; the browser keeps them for the realm.
        """
        profile = tempfile.TemporaryDirectory(prefix="pyfaas-chromium-")
        self._profiles.append(profile)
        user, password = self.platform.auth()
        context = self.playwright.chromium.launch_persistent_context(
            profile.name,
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1360, "height": 900},
            http_credentials={"username": user, "password": password}
            if auth and not in_url
            else None,
        )
        self._contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console {msg.type}: {msg.text}")
                if msg.type == "error" and not _expected(msg.text)
                else None
            ),
        )
        base = self.platform.url
        if in_url:
            base = base.replace("http://", f"http://{user}:{password}@", 1)
        self.response = page.goto(f"{base}/ui/#/{view}")
        return page

    def shot(self, page: Any, name: str) -> Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self._contexts:
            context.close()
        for profile in self._profiles:
            profile.cleanup()
        assert not self.errors, "\n".join(self.errors)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.platform.url}{path}", auth=self.platform.auth(), timeout=30, **kwargs
        )


def _expected(text: str) -> bool:
    """Console errors the browser itself logs for answers a test asks for on purpose."""
    return "Failed to load resource" in text


def eventually(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.25) -> Any:
    """``check()``'s first truthy answer, polled up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(interval)
