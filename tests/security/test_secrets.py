"""Secret values never leave the function: no API answer or log shows them.

A secret with a recognisable value is used by a deployed function that reads
it; every API answer and every log file is then searched for the value. An
updated value reaches the function at ``/var/openfaas/secrets/<name>`` after a
redeploy.
"""

from __future__ import annotations

import pytest

from tests.helpers import wait_for
from tests.security.platform import Platform, needs_bwrap, running_platform

pytestmark = [pytest.mark.integration, needs_bwrap]

VALUE = "leak-canary-7f3e91c2"
UPDATED = "leak-canary-updated-0a55"


def test_a_secret_value_appears_in_no_answer_and_no_log() -> None:
    # Its own platform: the gateway is stopped to read all of its output.
    with running_platform(PYFAAS_SANDBOX="required") as platform:
        _leak_check(platform)


def _leak_check(platform: Platform) -> None:
    with platform.client() as client:
        resp = client.post("/system/secrets", json={"name": "canary", "value": VALUE})
        assert resp.status_code in (200, 201, 202)
    platform.deploy("reader", secrets=["canary"], envVars={"write_debug": "true"})
    # The function uses the secret (and, with write_debug, its output is logged).
    assert platform.run("reader", "cat /var/openfaas/secrets/canary").text == VALUE
    answers = []
    with platform.client() as client:
        for path in (
            "/system/functions",
            "/system/function/reader",
            "/system/secrets",
            "/system/info",
            "/system/logs?name=reader&follow=false",
            "/system/logs?name=gateway&follow=false",
            "/metrics",
        ):
            resp = client.get(path)
            answers.append(f"{path} {resp.status_code} {resp.headers} {resp.text}")
    assert all(VALUE not in answer for answer in answers)
    assert "canary" in answers[2]  # the listing names it, without the value
    for log in (platform.home / "logs").rglob("*"):
        if log.is_file():
            assert VALUE.encode() not in log.read_bytes(), log
    platform.stop()
    assert VALUE not in "".join(platform.output)


def test_an_updated_secret_is_seen_after_redeploy(platform: Platform) -> None:
    with platform.client() as client:
        client.post("/system/secrets", json={"name": "rotating", "value": "first-value"})
    body = {"service": "rotator", "image": "functions/alpine:latest", "envProcess": "sh"}
    platform.deploy("rotator", secrets=["rotating"])
    assert platform.run("rotator", "cat /var/openfaas/secrets/rotating").text == "first-value"
    with platform.client() as client:
        resp = client.put("/system/secrets", json={"name": "rotating", "value": UPDATED})
        assert resp.status_code in (200, 202), resp.text
        resp = client.put("/system/functions", json={**body, "secrets": ["rotating"]})
        assert resp.status_code in (200, 202), resp.text
    wait_for(
        lambda: platform.run("rotator", "cat /var/openfaas/secrets/rotating").text == UPDATED,
        timeout=20,
    )
