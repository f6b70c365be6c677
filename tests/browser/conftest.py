"""The browser tier of the portal: a real ``pyfaas serve`` driven in headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, installed by
``scripts/system-deps``), driven by Playwright with no browser of its own.
The tests skip, saying why, only where Chromium cannot be launched. Each
test keeps a screenshot of the view it drove under ``build/screenshots/portal/``
(the path is printed at the end of the run).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.portal import ARGS, CHROMIUM, Browser
from tests.e2e.conftest import Platform, start_platform, stop_platform

SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "portal"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SHOTS.is_dir() and any(SHOTS.iterdir()):
        terminalreporter.write_line(f"portal screenshots: {SHOTS}")


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.fixture(scope="session")
def chromium_launches() -> None:
    """Skips the tier, saying why, where Chromium cannot be launched."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        pytest.skip(f"Chromium cannot be launched: playwright is not installed ({exc})")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium cannot be launched: no {CHROMIUM} (scripts/system-deps installs it)")
    with sync_playwright() as driver, tempfile.TemporaryDirectory() as profile:
        try:
            driver.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=ARGS
            ).close()
        except Error as exc:
            pytest.skip(f"Chromium cannot be launched: {exc.message.splitlines()[0]}")


@pytest.fixture
def browser(chromium_launches: None, platform: Platform, shots: Path) -> Iterator[Browser]:
    """Opens the portal in a Chromium of its own, with a fresh profile, per test.

    Playwright's driver runs an event loop in this thread while it is
    started, so it lives only as long as the test: the asyncio tests that
    run after this one find no loop running.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        opened = Browser(driver, platform, shots)
        try:
            yield opened
        finally:
            opened.close()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A real ``pyfaas serve`` (gateway and queue-worker) per test module."""
    instance = start_platform(tmp_path_factory.mktemp("portal"))
    yield instance
    stop_platform(instance)
