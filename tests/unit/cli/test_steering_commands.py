"""The CLI's commands for steering asynchronous calls, against a gateway answering the API."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyfaas.cli import _common
from pyfaas.cli.dead_letters import since_value
from pyfaas.cli.main import cli
from pyfaas.types import CallAttempt, CallState, CallStatus
from tests.unit.client.fake_gateway import FakeGateway, Stored, dead_request

pytestmark = pytest.mark.integration
Run = Callable[..., Result]


@pytest.fixture
def run(gateway: FakeGateway, tmp_path: Path) -> Run:
    env = {
        "OPENFAAS_URL": gateway.url,
        "OPENFAAS_CONFIG": str(tmp_path / "openfaas"),
        "PYFAAS_HOME": str(tmp_path / "home"),
        "CI": "",
    }

    def invoke(*args: str, stdin: str | bytes | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=stdin, env=env, catch_exceptions=False)

    return invoke


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def failed(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {message}\n"


def test_async_prints_the_call_id_where_the_issues_grep_finds_it(
    run: Run, gateway: FakeGateway
) -> None:
    done = ok(run("invoke", "figlet", "--async", "-H", "X-Call-Id=mine-1", stdin="hello"))
    assert done.stdout == "202 Accepted\nX-Call-Id: mine-1\n"
    # What faas-cli says stays on stderr, as it always was.
    assert done.stderr == "Function submitted asynchronously.\nCall ID: mine-1\n"
    # grep -o 'X-Call-Id: .*' | cut -d' ' -f2, over stdout and stderr
    found = re.findall(r"X-Call-Id: (.*)", done.stderr + done.stdout)
    assert found == ["mine-1"]
    assert gateway.calls["mine-1"].function == "figlet"


def test_async_wait_prints_the_result_as_a_sync_invoke(run: Run, gateway: FakeGateway) -> None:
    gateway.next_plan = [CallState.RUNNING, CallState.SUCCEEDED]
    gateway.results["call-1"] = Stored(200, [("Content-Type", "text/plain")], b"\xffart\n")
    done = ok(run("invoke", "figlet", "--async", "--wait", stdin="hi"))
    assert done.stdout_bytes == b"\xffart\n"
    assert "Call ID: call-1" in done.stderr


def test_wait_alone_implies_async_and_a_failed_result_is_one_line(
    run: Run, gateway: FakeGateway
) -> None:
    gateway.next_plan = [CallState.FAILED]
    gateway.results["call-1"] = Stored(500, [], b"exit status 1\nmore\n")
    done = run("invoke", "figlet", "--wait", stdin="hi")
    assert done.exit_code == 1
    assert done.stdout == ""
    assert done.stderr.endswith(
        "Error: server returned unexpected status code: 500 - exit status 1 more\n"
    )


def test_wait_on_a_call_that_ended_without_result(run: Run, gateway: FakeGateway) -> None:
    gateway.next_plan = [CallState.DEAD]
    done = run("invoke", "figlet", "--async", "--wait", stdin="hi")
    assert done.exit_code == 1
    assert done.stderr.splitlines()[-1] == "Error: call call-1 ended dead without a result"


def test_wait_gives_up_after_its_timeout(run: Run, gateway: FakeGateway) -> None:
    gateway.next_plan = [CallState.RUNNING]
    started = time.monotonic()
    done = run("invoke", "figlet", "--async", "--wait", "--timeout", "0.3", stdin="")
    assert done.exit_code == 1
    assert done.stderr.splitlines()[-1] == "Error: call call-1 is still running after 0.3s"
    assert time.monotonic() - started < 20
    failed(run("invoke", "figlet", "--timeout", "5", stdin=""), "--timeout goes with --wait")


def test_calls_get_shows_steering_and_history_rows(run: Run, gateway: FakeGateway) -> None:
    history = (
        CallAttempt(1, 1700000000.0, 1700000001.0, 503, "busy"),
        CallAttempt(2, 1700000010.0, None, None),
    )
    gateway.add(
        CallStatus(
            "c1", "figlet", "openfaas-fn", CallState.RETRYING, attempts=2,
            not_before=1700000100.0, expire_at=1700000200.0, history=history,
        )
    )  # fmt: skip
    shown = ok(run("calls", "get", "c1")).stdout.splitlines()
    assert "State:       retrying" in shown
    assert "Not before:  2023-11-14 22:15:00 UTC" in shown
    assert "Expires:     2023-11-14 22:16:40 UTC" in shown
    at = shown.index("History:")
    assert shown[at + 1].split() == ["ATTEMPT", "STARTED", "FINISHED", "STATUS", "ERROR"]
    assert shown[at + 2].split()[-2:] == ["503", "busy"]
    assert shown[at + 3].split()[-2:] == ["-", "-"]
    wire = json.loads(ok(run("calls", "get", "c1", "--json")).stdout)
    assert wire["notBefore"] == 1700000100.0
    assert len(wire["history"]) == 2


def test_calls_result_prints_the_body_raw_and_the_head_apart(
    run: Run, gateway: FakeGateway
) -> None:
    body = b"\x00\x01binary\xff"
    headers = [("Content-Type", "application/octet-stream")]
    gateway.add(
        CallStatus("c1", "f", "ns", CallState.SUCCEEDED), Stored(202, headers, body, truncated=99)
    )
    done = ok(run("calls", "result", "c1"))
    assert done.stdout_bytes == body
    head = done.stderr.splitlines()
    assert head[0] == "HTTP 202"
    assert "Content-Type: application/octet-stream" in head
    assert "X-Call-Id: c1" in head
    assert head[-1] == "X-Result-Truncated: 99 (the body is cut)"
    verbose = ok(run("calls", "result", "c1", "-v"))
    assert verbose.stderr == ""
    assert verbose.stdout_bytes.startswith(b"HTTP 202\n")
    assert verbose.stdout_bytes.endswith(b"(the body is cut)\n\n" + body)


def test_calls_result_errors_are_one_line(run: Run, gateway: FakeGateway) -> None:
    gateway.add(CallStatus("q1", "f", "ns", CallState.QUEUED))
    failed(run("calls", "result", "nope"), "no such call: nope")
    failed(run("calls", "result", "q1"), "call q1 has no result yet (state queued)")


def test_calls_cancel(run: Run, gateway: FakeGateway) -> None:
    gateway.add(CallStatus("q1", "f", "ns", CallState.DELAYED))
    gateway.add(CallStatus("r1", "f", "ns", CallState.RUNNING))
    assert ok(run("calls", "cancel", "q1")).stdout == "Cancelled: q1 (cancelled)\n"
    assert gateway.calls["q1"].state is CallState.CANCELLED
    failed(run("calls", "cancel", "r1"), "call r1 is running: only a waiting call can be cancelled")


def test_queue_stats_table_and_json(run: Run, gateway: FakeGateway) -> None:
    gateway.queue = {
        "queued": 5, "running": 1, "dead": 2, "delayed": 1, "retrying": 3,
        "functions": [
            {"function": "figlet.openfaas-fn", "queued": 5, "delayed": 1, "running": 1,
             "retrying": 3, "dead": 2, "oldestAge": 200.0, "processed": 40,
             "callbackFailures": 1},
            {"function": "env.openfaas-fn", "oldestAge": 0},
        ],
    }  # fmt: skip
    rows = [line.split() for line in ok(run("queue", "stats")).stdout.splitlines()]
    assert rows[0] == [
        "FUNCTION",
        "QUEUED",
        "DELAYED",
        "RUNNING",
        "OLDEST",
        "AGE",
        "RETRIES",
        "DEAD",
        "PROCESSED",
        "CALLBACK",
        "FAILURES",
    ]
    assert rows[1] == ["figlet.openfaas-fn", "5", "1", "1", "3m20s", "3", "2", "40", "1"]
    assert rows[2] == ["env.openfaas-fn", "0", "0", "0", "-", "0", "0", "0", "0"]
    assert rows[3] == ["TOTAL", "5", "1", "1", "3m20s", "3", "2", "40", "1"]
    data = json.loads(ok(run("queue", "stats", "--json")).stdout)
    assert data["functions"][0]["oldestAge"] == 200.0
    assert data["functions"][0]["processed"] == 40
    assert data["functions"][0]["callbackFailures"] == 1
    assert data["retrying"] == 3


def test_dead_letters_list_show_and_filters(run: Run, gateway: FakeGateway) -> None:
    dead = CallStatus("d1", "figlet", "openfaas-fn", CallState.DEAD, attempts=3, reason="exhausted")
    gateway.bury(dead, dead_request(b"hello"))
    gateway.bury(CallStatus("d2", "env", "openfaas-fn", CallState.DEAD, reason="expired"))
    listed = ok(run("dead-letters", "list", "--function", "figlet", "--since", "1700000000"))
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0][:2] == ["CALL", "ID"]
    assert rows[1][:4] == ["d1", "figlet.openfaas-fn", "-", "3"]
    assert rows[1][-1] == "exhausted"
    assert len(rows) == 2
    assert gateway.seen[-1][2] == {"limit": "100", "function": "figlet", "since": "1700000000"}
    assert (
        json.loads(ok(run("dead-letters", "ls", "--reason", "expired", "-j")).stdout)[0]["callId"]
        == "d2"
    )
    shown = ok(run("dead-letters", "show", "d1")).stdout
    assert "Reason:      exhausted" in shown
    assert "Request: POST /async-function/figlet.openfaas-fn?a=1 (5 bytes)" in shown
    assert "  Content-Type: text/plain" in shown
    assert shown.endswith("hello\n")
    assert "Request: no longer kept" in ok(run("dead-letters", "show", "d2")).stdout
    failed(run("dead-letters", "show", "d3"), "no dead letter with call id d3")


def test_dead_letters_replay_one_by_filter_or_all(run: Run, gateway: FakeGateway) -> None:
    for i, fn in enumerate(["figlet", "figlet", "env", "env"]):
        gateway.bury(CallStatus(f"d{i}", fn, "openfaas-fn", CallState.DEAD))
    assert ok(run("dead-letters", "replay", "d0")).stdout == "Replayed: d0\n"
    assert ok(run("dead-letters", "replay", "--function", "figlet")).stdout == (
        "Replayed 1 dead letter.\n"
    )
    assert ok(run("dead-letters", "replay", "--all")).stdout == "Replayed 2 dead letters.\n"
    assert gateway.dead == {}
    failed(
        run("dead-letters", "replay"),
        "replay what? give CALL_ID, --function, --reason, --since or --all",
    )
    failed(
        run("dead-letters", "replay", "d0", "--all"),
        "replay CALL_ID, or a filter, or --all: one of them",
    )


def test_dead_letters_purge_asks_on_a_terminal_unless_yes(
    run: Run, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        gateway.bury(CallStatus(f"d{i}", "figlet", "openfaas-fn", CallState.DEAD))
    failed(run("dead-letters", "purge"), "purge what? give --function, --reason, --since or --all")

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(_common, "stdin_bytes", lambda: Terminal())
    refused = run("dead-letters", "purge", "--function", "figlet", stdin="n\n")
    assert refused.exit_code == 1
    assert "Delete the dead letters of function figlet for good?" in refused.stderr
    assert len(gateway.dead) == 3
    agreed = ok(run("dead-letters", "purge", "--function", "figlet", stdin="y\n"))
    assert agreed.stdout == "Purged 3 dead letters.\n"
    gateway.bury(CallStatus("d9", "env", "openfaas-fn", CallState.DEAD))
    assert ok(run("dead-letters", "purge", "--all", "--yes")).stdout == "Purged 1 dead letter.\n"


def test_since_reads_durations_ago_and_passes_times_on() -> None:
    before = time.time()
    ago = since_value("1h30m")
    assert isinstance(ago, float)
    assert before - 5400 - 5 < ago <= time.time() - 5400
    two_days = since_value("2d")
    assert isinstance(two_days, float)
    assert abs(two_days - (time.time() - 172800)) < 5
    assert since_value("1700000000") == "1700000000"
    assert since_value("2026-12-01T00:00:00Z") == "2026-12-01T00:00:00Z"
    assert since_value(None) is None
