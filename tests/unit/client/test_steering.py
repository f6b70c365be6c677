"""The client's steering of asynchronous calls against a gateway answering the specified API."""

from __future__ import annotations

import gzip
import time

import pytest

from pyfaas.client import GatewayClient
from pyfaas.errors import BadRequest, Conflict, GatewayTimeout, NotFound
from pyfaas.types import CallAttempt, CallState, CallStatus
from tests.unit.client.fake_gateway import FakeGateway, Stored, dead_request

pytestmark = pytest.mark.integration

DONE = CallStatus("c1", "figlet", "openfaas-fn", CallState.SUCCEEDED, attempts=1, status_code=201)


def _client(gateway: FakeGateway) -> GatewayClient:
    return GatewayClient(gateway.url, ("admin", "pw"), timeout=10)


def test_a_result_is_the_functions_answer_as_it_gave_it(gateway: FakeGateway) -> None:
    body = bytes(range(256)) * 4
    headers = [("Content-Type", "application/octet-stream"), ("Set-Cookie", "a=1")]
    headers.append(("Set-Cookie", "b=2"))
    gateway.add(DONE, Stored(201, headers, body))
    with _client(gateway) as client:
        result = client.call_result("c1")
    assert result.status == 201
    assert result.body == body
    assert result.truncated is None
    assert result.header("content-type") == "application/octet-stream"
    assert [v for k, v in result.headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert result.header("X-Call-Id") == "c1"


def test_a_compressed_result_comes_as_the_function_compressed_it(gateway: FakeGateway) -> None:
    packed = gzip.compress(b"hello " * 100)
    gateway.add(DONE, Stored(200, [("Content-Encoding", "gzip")], packed))
    with _client(gateway) as client:
        result = client.call_result("c1")
    # Not decoded: the body matches the Content-Encoding the headers still say.
    assert result.body == packed
    assert result.header("Content-Encoding") == "gzip"


def test_a_cut_result_says_its_full_size(gateway: FakeGateway) -> None:
    gateway.add(DONE, Stored(200, [], b"x" * 10, truncated=5_000_000))
    with _client(gateway) as client:
        result = client.call_result("c1")
    assert result.truncated == 5_000_000
    assert result.header("X-Result-Truncated") is None  # parsed, not repeated
    assert result.body == b"x" * 10


def test_a_functions_own_404_and_409_are_results_not_errors(gateway: FakeGateway) -> None:
    gateway.add(DONE, Stored(404, [("Content-Type", "text/plain")], b"no such user\n"))
    gateway.add(
        CallStatus("c2", "figlet", "openfaas-fn", CallState.FAILED),
        Stored(409, [], b"already there"),
    )
    with _client(gateway) as client:
        assert client.call_result("c1").status == 404
        assert client.call_result("c1").body == b"no such user\n"
        assert client.call_result("c2").status == 409


def test_no_result_unknown_call_and_result_yet_are_errors(gateway: FakeGateway) -> None:
    gateway.add(CallStatus("q1", "figlet", "openfaas-fn", CallState.QUEUED))
    with _client(gateway) as client:
        with pytest.raises(NotFound, match="no such call: nope"):
            client.call_result("nope")
        with pytest.raises(Conflict, match=r"call q1 has no result yet \(state queued\)"):
            client.call_result("q1")


def test_cancel_answers_the_cancelled_call_or_says_why_not(gateway: FakeGateway) -> None:
    gateway.add(CallStatus("q1", "figlet", "openfaas-fn", CallState.DELAYED, not_before=2e9))
    gateway.add(CallStatus("r1", "figlet", "openfaas-fn", CallState.RUNNING))
    with _client(gateway) as client:
        cancelled = client.cancel("q1")
        assert cancelled.state is CallState.CANCELLED
        assert cancelled.not_before == 2e9
        with pytest.raises(Conflict, match="call r1 is running"):
            client.cancel("r1")
        with pytest.raises(NotFound):
            client.cancel("nope")
    assert ("DELETE", "/system/calls/q1", {}) in gateway.seen


def test_wait_polls_until_final_then_fetches_the_result(gateway: FakeGateway) -> None:
    gateway.add(
        CallStatus("w1", "figlet", "openfaas-fn", CallState.QUEUED),
        Stored(200, [("Content-Type", "text/plain")], b"art"),
    )
    gateway.plans["w1"] = [CallState.QUEUED, CallState.RUNNING, CallState.SUCCEEDED]
    with _client(gateway) as client:
        outcome = client.wait_result("w1", timeout=30, poll=0.01)
    assert outcome.call.state is CallState.SUCCEEDED
    assert outcome.result is not None
    assert outcome.result.body == b"art"
    polls = [p for m, p, _ in gateway.seen if p == "/system/calls/w1"]
    assert len(polls) == 3
    assert gateway.seen[-1][1] == "/system/calls/w1/result"


def test_wait_on_a_call_that_ended_without_result_returns_the_call(gateway: FakeGateway) -> None:
    history = (CallAttempt(1, 1.0, 2.0, 500, "exit status 1"),)
    gateway.add(CallStatus("x1", "f", "ns", CallState.EXPIRED, reason="expired", history=history))
    with _client(gateway) as client:
        outcome = client.wait_result("x1", timeout=5)
    assert outcome.result is None
    assert outcome.call.reason == "expired"
    assert outcome.call.history == history
    assert all(not p.endswith("/result") for _, p, _ in gateway.seen)


def test_wait_times_out_with_the_state_it_saw(gateway: FakeGateway) -> None:
    gateway.add(CallStatus("slow", "f", "ns", CallState.RUNNING))
    started = time.monotonic()
    with _client(gateway) as client, pytest.raises(GatewayTimeout) as caught:
        client.wait_result("slow", timeout=0.3, poll=0.05)
    assert caught.value.message == "call slow is still running after 0.3s"
    assert time.monotonic() - started < 10  # generous: the machine is shared


def test_queue_stats_reads_the_rows_per_function(gateway: FakeGateway) -> None:
    gateway.queue = {
        "queued": 3,
        "running": 1,
        "dead": 2,
        "delayed": 4,
        "retrying": 1,
        "backend": "memory",
        "functions": [
            {"function": "figlet.openfaas-fn", "queued": 3, "delayed": 4, "running": 1,
             "retrying": 1, "dead": 2, "oldestAge": 12.5, "processed": 9,
             "callbackFailures": 2},
            {"function": "env.openfaas-fn", "queued": 0, "oldestAge": None},
        ],
    }  # fmt: skip
    with _client(gateway) as client:
        summary = client.queue_stats()
    assert (summary.queued, summary.running, summary.dead) == (3, 1, 2)
    assert (summary.delayed, summary.retrying) == (4, 1)
    assert summary.extra == {"backend": "memory"}
    figlet, env = summary.functions
    assert figlet.function == "figlet.openfaas-fn"
    assert (figlet.queued, figlet.delayed, figlet.running) == (3, 4, 1)
    assert (figlet.retrying, figlet.dead, figlet.oldest_age) == (1, 2, 12.5)
    assert (figlet.processed, figlet.callback_failures) == (9, 2)
    assert (env.dead, env.oldest_age, env.processed) == (0, 0.0, 0)


def test_an_older_gateways_queue_stats_have_no_rows(gateway: FakeGateway) -> None:
    gateway.queue = {"queued": 1, "running": 0, "dead": 0}
    with _client(gateway) as client:
        summary = client.queue_stats()
    assert summary.functions == ()
    assert summary.delayed == 0


def test_dead_letters_are_filtered_by_function_reason_and_time(gateway: FakeGateway) -> None:
    gateway.bury(CallStatus("d1", "figlet", "openfaas-fn", CallState.DEAD, reason="exhausted"))
    gateway.bury(CallStatus("d2", "env", "openfaas-fn", CallState.DEAD, reason="expired"))
    with _client(gateway) as client:
        found = client.dead_letters(5, function="figlet", reason="exhausted", since=1700000000.0)
        assert [d.call_id for d in found] == ["d1"]
        assert {d.call_id for d in client.dead_letters()} == {"d1", "d2"}
    query = gateway.seen[0][2]
    assert query == {
        "limit": "5", "function": "figlet", "reason": "exhausted", "since": "1700000000"
    }  # fmt: skip


def test_a_dead_letter_comes_with_its_request(gateway: FakeGateway) -> None:
    gateway.bury(CallStatus("d1", "figlet", "openfaas-fn", CallState.DEAD), dead_request(b"\x00hi"))
    gateway.bury(CallStatus("d2", "figlet", "openfaas-fn", CallState.DEAD), None)
    with _client(gateway) as client:
        letter = client.dead_letter("d1")
        gone = client.dead_letter("d2")
        with pytest.raises(NotFound, match="no dead letter with call id d3"):
            client.dead_letter("d3")
    assert letter.call.call_id == "d1"
    assert letter.request is not None
    assert letter.request.body == b"\x00hi"
    assert letter.request.size == 3
    assert letter.request.query == "a=1"
    assert ("Content-Type", "text/plain") in letter.request.headers
    assert gone.request is None


def test_replay_and_purge_by_filter_or_all(gateway: FakeGateway) -> None:
    for i, fn in enumerate(["figlet", "figlet", "env"]):
        gateway.bury(CallStatus(f"d{i}", fn, "openfaas-fn", CallState.DEAD))
    with _client(gateway) as client:
        assert client.replay_where(function="figlet.openfaas-fn") == 2
        assert gateway.calls["d0"].state is CallState.QUEUED
        assert client.purge(everything=True) == 1
        assert gateway.dead == {}
        assert client.purge(reason="expired") == 0
    assert ("DELETE", "/system/dead-letters", {"all": "true"}) in gateway.seen


def test_an_empty_filter_is_refused_before_any_request(gateway: FakeGateway) -> None:
    with _client(gateway) as client:
        with pytest.raises(BadRequest, match="or ask for all"):
            client.purge()
        with pytest.raises(BadRequest, match="or ask for all"):
            client.replay_where(function="")
        with pytest.raises(BadRequest, match="not both"):
            client.purge(function="figlet", everything=True)
    assert gateway.seen == []
