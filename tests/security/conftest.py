"""Fixtures for the tests that try to break out of the platform."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.platform import Platform, running_platform


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    with running_platform(PYFAAS_SANDBOX="required", PYFAAS_MAX_BODY="1Mi") as running:
        running.deploy("healthy", "cat")
        yield running


def assert_healthy(platform: Platform) -> None:
    """The platform still serves another function."""
    resp = platform.run("healthy", "still here")
    assert resp.status_code == 200, resp.text
    assert resp.text == "still here"
