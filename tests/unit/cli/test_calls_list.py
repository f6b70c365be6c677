"""``pyfaas calls list`` and the client's ``calls``, against a gateway answering the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyfaas.cli.main import cli
from pyfaas.client import GatewayClient
from pyfaas.errors import BadRequest
from pyfaas.types import CallState, CallStatus
from tests.unit.client.fake_gateway import FakeGateway

pytestmark = pytest.mark.integration


def _calls(gateway: FakeGateway) -> None:
    gateway.add(
        CallStatus("c1", "figlet", "openfaas-fn", CallState.SUCCEEDED, 1, 1.7e9, status_code=200)
    )
    gateway.add(CallStatus("c2", "env", "openfaas-fn", CallState.QUEUED, 0, 1.7e9 + 1))
    gateway.add(CallStatus("c3", "figlet", "openfaas-fn", CallState.DELAYED, 0, 1.7e9 + 2))


def run(gateway: FakeGateway, tmp_path: Path, *args: str) -> Result:
    env = {
        "OPENFAAS_URL": gateway.url,
        "OPENFAAS_CONFIG": str(tmp_path / "openfaas"),
        "PYFAAS_HOME": str(tmp_path / "home"),
        "CI": "",
    }
    return CliRunner().invoke(cli, ["calls", "list", *args], env=env, catch_exceptions=False)


def test_the_client_lists_a_page_and_its_cursor(gateway: FakeGateway) -> None:
    _calls(gateway)
    with GatewayClient(gateway.url, ("admin", "pw"), timeout=10) as client:
        page = client.calls(limit=2)
        assert [c.call_id for c in page.calls] == ["c3", "c2"]
        assert page.next is not None
        rest = client.calls(limit=2, before=page.next)
        assert [c.call_id for c in rest.calls] == ["c1"]
        assert rest.calls[0].status_code == 200
        assert rest.next is None
        assert [c.call_id for c in client.calls("figlet", state="delayed").calls] == ["c3"]
        with pytest.raises(BadRequest, match="not a state"):
            client.calls(state="sleeping")
    assert ("GET", "/system/calls", {"function": "figlet", "state": "delayed", "limit": "50"}) in (
        gateway.seen
    )


def test_the_list_has_a_header_row_and_says_where_more_are(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    _calls(gateway)
    result = run(gateway, tmp_path, "--limit", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "CALL",
        "ID",
        "FUNCTION",
        "STATE",
        "ATTEMPTS",
        "SUBMITTED",
        "STATUS",
    ]
    assert lines[1].split()[:3] == ["c3", "figlet.openfaas-fn", "delayed"]
    assert len(lines) == 3
    assert result.stderr == "More calls: the same command with --before 2\n"


def test_the_list_filters_and_prints_json(gateway: FakeGateway, tmp_path: Path) -> None:
    _calls(gateway)
    result = run(gateway, tmp_path, "--function", "figlet", "--state", "succeeded", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [(c["callId"], c["state"], c["statusCode"]) for c in listed] == [
        ("c1", "succeeded", 200)
    ]
    empty = run(gateway, tmp_path, "--state", "running")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (0, "", "No calls.\n")
    bad = run(gateway, tmp_path, "--state", "sleeping")
    assert bad.exit_code == 2
