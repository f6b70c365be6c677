"""Driving the portal in Chromium: a fresh browser and profile per use, page errors kept.

``Browser.open(view)`` launches Chromium with a new user-data-dir, opens
``/ui/#/VIEW`` and signs in with the admin credentials in the portal's own
form, as a user does (unless ``auth=False``: the form is left showing). The
browser is given no credentials of its own, so a Basic challenge would fail
the page rather than be answered. Every error the page logs or throws is collected, and
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

    def open(self, view: str = "functions", *, auth: bool = True) -> Any:
        """A new Chromium on ``/ui/#/VIEW``, signed in unless ``auth=False``; answers its page."""
        profile = tempfile.TemporaryDirectory(prefix="pyfaas-chromium-")
        self._profiles.append(profile)
        context = self.playwright.chromium.launch_persistent_context(
            profile.name,
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1360, "height": 900},
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
        self.response = page.goto(f"{self.platform.url}/ui/#/{view}")
        if auth:
            self.sign_in(page)
        return page

    def sign_in(self, page: Any, password: str | None = None) -> None:
        """Fill the portal's sign-in form; with the right password, wait for it to close."""
        user, right = self.platform.auth()
        page.fill("#login-form input[name=user]", user)
        page.fill("#login-form input[name=password]", password or right)
        page.click("#login-form button[type=submit]")
        if password is None:
            page.wait_for_selector("#login", state="hidden")

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
