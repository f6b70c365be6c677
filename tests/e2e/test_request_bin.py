"""The lab's callback step on one machine: figlet's result goes to the request-bin
store function, and ``pyfaas bin show`` prints what it received.

``request-bin`` stands in for requestbin.com: deployed from the store with no
network, it records each request, and ``bin show`` reads the records back from
``/function/request-bin/_bin/requests``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Platform
from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _ready(platform: Platform, name: str) -> bool:
    status = httpx.get(f"{platform.url}/system/function/{name}", auth=platform.auth(), timeout=5)
    return status.status_code == 200 and status.json().get("availableReplicas", 0) > 0


def _records(platform: Platform, *args: str) -> list[dict[str, Any]]:
    listed = json.loads(platform.cli("bin", "show", "request-bin", "--json", *args).stdout)
    assert isinstance(listed, list)
    return listed


def test_figlet_callback_lands_in_the_request_bin(platform: Platform) -> None:
    deployed = platform.cli("store", "deploy", "request-bin")
    assert b"Deployed" in deployed.stdout
    # Not a terminal: the build's progress comes as plain lines, never silence.
    progress = deployed.stderr.decode()
    assert "Building the image of request-bin..." in progress
    assert "\n  Creating virtualenv" in progress
    assert "Image: ghcr.io/pyfaas/request-bin:latest built." in progress
    platform.cli("store", "deploy", "figlet")
    wait_for(lambda: _ready(platform, "request-bin"), timeout=180, interval=0.5)
    wait_for(lambda: _ready(platform, "figlet"), timeout=180, interval=0.5)
    assert _records(platform) == []

    submitted = platform.cli(
        "invoke",
        "figlet",
        "--async",
        "--header",
        f"X-Callback-Url={platform.url}/function/request-bin",
        stdin=b"LaterIsBetter",
    )
    call_id = submitted.stdout.decode().split("X-Call-Id: ")[1].split()[0]
    wait_for(lambda: len(_records(platform)) >= 1, timeout=60, interval=0.3)

    [record] = _records(platform)
    headers = {k.lower(): v for k, v in record["headers"].items()}
    assert record["method"] == "POST"
    assert headers["x-call-id"] == call_id
    assert headers["x-function-status"] == "200"
    assert headers["x-pyfaas-signature"].startswith("sha256=")
    assert headers["x-pyfaas-timestamp"]
    assert "|_____" in record["body"]

    shown = platform.cli("bin", "show", "request-bin").stdout.decode()
    assert f"X-Call-Id: {call_id}" in shown
    assert "X-Function-Status: 200" in shown
    assert "X-Pyfaas-Signature: sha256=" in shown
    assert "|_____" in shown  # figlet's art, as requestbin.com shows it

    # Reading the records records nothing; --tail keeps the last ones.
    httpx.post(f"{platform.url}/function/request-bin/second?x=1", content=b"two")
    wait_for(lambda: len(_records(platform)) == 2, timeout=10, interval=0.2)
    [last] = _records(platform, "--tail", "1")
    assert (last["path"], last["query"], last["body"]) == ("/second", "x=1", "two")


def test_bin_show_without_a_bin_says_how_to_deploy_one(platform: Platform) -> None:
    done = platform.cli("bin", "show", "no-such-bin", check=False)
    assert done.returncode == 1
    assert b"pyfaas store deploy request-bin" in done.stderr


def test_an_invocation_never_hands_the_admin_login_to_the_function(platform: Platform) -> None:
    wait_for(lambda: _ready(platform, "request-bin"), timeout=180, interval=0.5)
    before = len(_records(platform))
    platform.cli("invoke", "request-bin", stdin=b"sync")
    platform.cli("invoke", "request-bin", "--async", stdin=b"async")
    wait_for(lambda: len(_records(platform)) >= before + 2, timeout=30, interval=0.3)
    received = [r for r in _records(platform) if r["body"] in ("sync", "async")]
    assert len(received) == 2
    for record in received:
        assert "authorization" not in {k.lower() for k in record["headers"]}
    _, password = platform.auth()
    assert password not in platform.cli("bin", "show", "request-bin").stdout.decode()
