"""The steering contract of the queue (``pyfaas/queue/base.py``, "Steering"), on every backend.

Fingerprints against reused ids, delays and expiry, functions in turn, the
history of attempts, stored results, cancel, dead letters by filter, prune
and per-function counts: run against the memory twin, a real SQLite file and
a real nats-server, with the fixtures of ``tests/contract/conftest.py``. A
test that needs what a backend may lack (a queue that outlives its handle)
reads the backend's declaration of it.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from pyfaas.errors import Conflict, NotFound
from pyfaas.queue import CallState, Outcome, Queue, QueuedCall
from pyfaas.queue.base import DeadLetterFilter, FunctionStats
from pyfaas.queue.envelope import Answer, Delivery, StoredResult
from tests.clock import SharedClock
from tests.contract.conftest import Opener

NS = "openfaas-fn"


def call(call_id: str | None = None, function: str = "echo", **fields: Any) -> QueuedCall:
    values: dict[str, Any] = {
        "body": b"hello",
        "headers": [("Content-Type", "text/plain")],
        "submitted_at": time.time(),
        "fingerprint": "fp-" + function,
    }
    values.update(fields)
    return QueuedCall(call_id or uuid.uuid4().hex, function, NS, **values)


async def record_of(queue: Queue, call_id: str) -> Any:
    found = await queue.record(call_id)
    assert found is not None, f"no record of {call_id}"
    return found


async def claim_n(queue: Queue, n: int) -> list[Delivery]:
    """``n`` deliveries in the order claimed: a claim hands out *up to* its limit."""
    got: list[Delivery] = []
    while len(got) < n:
        more = await queue.claim(limit=n - len(got), lease=5, wait=3)
        assert more, f"claimed {len(got)} of {n}"
        got += more
    return got


async def bury_one(queue: Queue, queued: QueuedCall, lease: float = 5, **outcome: Any) -> None:
    await queue.put(queued)
    [delivery] = await queue.claim(limit=1, lease=lease, wait=3)
    assert delivery.call.call_id == queued.call_id
    await queue.bury(delivery, Outcome(**outcome))


async def test_a_known_id_with_another_fingerprint_conflicts(queue: Queue) -> None:
    first = call("c1", body=b"first", fingerprint="aaaa")
    assert await queue.put(first) is True
    assert await queue.put(call("c1", body=b"first", fingerprint="aaaa")) is False
    with pytest.raises(Conflict, match="c1"):
        await queue.put(call("c1", body=b"other", fingerprint="bbbb"))
    # A call stored without a fingerprint, or offered without one, matches any.
    assert await queue.put(call("c1", body=b"other", fingerprint="")) is False
    deliveries = await queue.claim(limit=10, lease=5, wait=3)
    assert [d.call.body for d in deliveries] == [b"first"]
    await queue.ack(deliveries[0], Outcome(status_code=200))
    with pytest.raises(Conflict):
        await queue.put(call("c1", fingerprint="bbbb"))  # settled: still the first call's id
    record = await record_of(queue, "c1")
    assert (record.state, record.fingerprint) == (CallState.SUCCEEDED, "aaaa")


async def test_a_delayed_call_is_not_claimed_before_its_time(
    queue: Queue, clock: SharedClock
) -> None:
    not_before = clock.time() + 1.0
    await queue.put(call("later", not_before=not_before))
    record = await record_of(queue, "later")
    assert (record.state, record.not_before) == (CallState.DELAYED, not_before)
    assert await queue.claim(limit=1, lease=5, wait=0.3) == []
    [delivery] = await queue.claim(limit=1, lease=5, wait=10)
    assert clock.time() >= not_before - 0.05
    assert delivery.call.call_id == "later"
    assert delivery.call.not_before == not_before
    await queue.ack(delivery, Outcome(status_code=200))


async def test_a_delayed_call_behind_others_waits_while_they_run(
    queue: Queue, clock: SharedClock
) -> None:
    await queue.put(call("later", not_before=clock.time() + 1.0))
    await queue.put(call("now"))
    deliveries = await queue.claim(limit=10, lease=5, wait=3)
    assert [d.call.call_id for d in deliveries] == ["now"]
    await queue.ack(deliveries[0], Outcome(status_code=200))
    [delivery] = await queue.claim(limit=10, lease=5, wait=10)
    assert delivery.call.call_id == "later"
    await queue.ack(delivery, Outcome(status_code=200))


async def test_a_delayed_call_survives_reopening_the_queue(
    opener: Opener, clock: SharedClock
) -> None:
    queue = await opener()
    if not getattr(queue, "durable", True):
        pytest.skip("this backend keeps nothing once its handle is closed")
    not_before = clock.time() + 1.0
    await queue.put(call("later", not_before=not_before))
    await queue.close()
    reopened = await opener()
    record = await record_of(reopened, "later")
    assert record.state is CallState.DELAYED
    assert await reopened.claim(limit=1, lease=5, wait=0.3) == []
    [delivery] = await reopened.claim(limit=1, lease=5, wait=10)
    assert delivery.call.call_id == "later"
    assert clock.time() >= not_before - 0.05
    await reopened.ack(delivery, Outcome(status_code=200))


async def test_a_call_not_started_by_its_expire_at_is_set_aside(queue: Queue) -> None:
    stale = call("stale", expire_at=time.time() - 1)
    await queue.put(stale)
    await queue.put(call("fresh", expire_at=time.time() + 3600))
    deliveries = await queue.claim(limit=10, lease=5, wait=3)
    assert [d.call.call_id for d in deliveries] == ["fresh"]
    await queue.ack(deliveries[0], Outcome(status_code=200))
    record = await record_of(queue, "stale")
    assert (record.state, record.reason, record.attempts) == (CallState.EXPIRED, "expired", 0)
    assert [r.call_id for r in await queue.dead_letters()] == ["stale"]
    assert (await queue.stats()).dead == 1
    assert await queue.claim(limit=10, lease=5, wait=0.3) == []
    found, request = await queue.dead_letter("stale")
    assert found.state is CallState.EXPIRED
    assert request == stale


async def test_a_replayed_expired_call_runs(queue: Queue) -> None:
    await queue.put(call("stale", expire_at=time.time() - 1))
    assert await queue.claim(limit=10, lease=5, wait=0.5) == []
    await queue.replay("stale")
    [delivery] = await queue.claim(limit=10, lease=5, wait=3)
    assert delivery.call.call_id == "stale"
    await queue.ack(delivery, Outcome(status_code=200))
    assert (await record_of(queue, "stale")).state is CallState.SUCCEEDED


async def test_claims_take_functions_in_turn(queue: Queue) -> None:
    for i in range(10):
        await queue.put(call(f"f{i}", function="f"))
    await queue.put(call("g0", function="g"))
    deliveries = await queue.claim(limit=2, lease=5, wait=3)
    assert sorted(d.call.call_id for d in deliveries) == ["f0", "g0"]
    for delivery in deliveries:
        await queue.ack(delivery, Outcome(status_code=200))
    rest = await claim_n(queue, 3)
    assert [d.call.call_id for d in rest] == ["f1", "f2", "f3"]  # oldest first within one


async def test_callback_deliveries_take_a_turn_of_their_own(queue: Queue) -> None:
    for i in range(5):
        await queue.put(call(f"f{i}", function="f"))
    answer = Answer("f-old", 200, 0.1, "1700000000000000000")
    await queue.put(call("f-old.callback", function="f", answer=answer))
    deliveries = await queue.claim(limit=2, lease=5, wait=3)
    assert sorted(d.call.call_id for d in deliveries) == ["f-old.callback", "f0"]


async def test_history_keeps_every_attempt_across_retry_then_ack(queue: Queue) -> None:
    await queue.put(call("c1"))
    [first] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.retry(
        first,
        0.1,
        Outcome(status_code=503, error="unavailable", started_at=1000.0, finished_at=1001.5),
    )
    record = await record_of(queue, "c1")
    assert record.state is CallState.RETRYING
    assert [(a.attempt, a.status_code, a.error) for a in record.history] == [
        (1, 503, "unavailable")
    ]
    [second] = await queue.claim(limit=1, lease=5, wait=5)
    assert second.attempt == 2
    await queue.ack(second, Outcome(status_code=200, started_at=1010.0, finished_at=1011.0))
    record = await record_of(queue, "c1")
    assert (record.state, record.attempts) == (CallState.SUCCEEDED, 2)
    history = [(a.attempt, a.started_at, a.finished_at, a.status_code) for a in record.history]
    assert history == [(1, 1000.0, 1001.5, 503), (2, 1010.0, 1011.0, 200)]
    assert record.history[1].error is None
    assert record.reason is None


async def test_bury_keeps_its_reason_and_the_history(queue: Queue) -> None:
    await queue.put(call("c1"))
    [first] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.retry(first, 0.1, Outcome(status_code=500))
    [second] = await queue.claim(limit=1, lease=5, wait=5)
    await queue.bury(second, Outcome(status_code=500, reason="retries exhausted"))
    record = await record_of(queue, "c1")
    assert (record.state, record.reason) == (CallState.DEAD, "retries exhausted")
    assert [(a.attempt, a.status_code) for a in record.history] == [(1, 500), (2, 500)]
    assert all(a.finished_at is not None for a in record.history)
    [dead] = await queue.dead_letters()
    assert (dead.call_id, dead.reason, len(dead.history)) == ("c1", "retries exhausted", 2)


RESULT = StoredResult(
    status=201,
    headers=[("Content-Type", "application/octet-stream"), ("X-Out", "Zoë")],
    body=bytes(range(256)),
    truncated=True,
    size=4096,
)


async def test_ack_stores_the_result(queue: Queue) -> None:
    assert await queue.result("nope") is None
    await queue.put(call("c1"))
    assert await queue.result("c1") is None
    [first] = await queue.claim(limit=1, lease=5, wait=3)
    assert await queue.result("c1") is None
    await queue.retry(first, 0.1, Outcome(status_code=503))
    assert await queue.result("c1") is None
    assert (await record_of(queue, "c1")).has_result is False
    [second] = await queue.claim(limit=1, lease=5, wait=5)
    await queue.ack(second, Outcome(status_code=201, result=RESULT))
    assert await queue.result("c1") == RESULT
    assert (await record_of(queue, "c1")).has_result is True


async def test_bury_stores_the_result(queue: Queue) -> None:
    failed = StoredResult(500, [("Content-Type", "text/plain")], b"boom", size=4)
    await bury_one(queue, call("c1"), status_code=500, result=failed, reason="not retryable: 500")
    assert await queue.result("c1") == failed
    record = await record_of(queue, "c1")
    assert (record.has_result, record.reason) == (True, "not retryable: 500")


async def test_an_outcome_without_a_result_stores_none(queue: Queue) -> None:
    await queue.put(call("c1"))
    [delivery] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.ack(delivery, Outcome(error="gateway unreachable"))
    assert await queue.result("c1") is None
    assert (await record_of(queue, "c1")).has_result is False


@pytest.mark.parametrize("state", ["queued", "delayed", "retrying"])
async def test_cancel_of_a_call_not_started_cancels_it(
    queue: Queue, clock: SharedClock, state: str
) -> None:
    if state == "delayed":
        await queue.put(call("c1", not_before=clock.time() + 1.0))
    else:
        await queue.put(call("c1"))
    if state == "retrying":
        [delivery] = await queue.claim(limit=1, lease=5, wait=3)
        await queue.retry(delivery, 0.3, Outcome(status_code=503))
    assert (await record_of(queue, "c1")).state.value == state
    cancelled = await queue.cancel("c1")
    assert (cancelled.call_id, cancelled.state) == ("c1", CallState.CANCELLED)
    assert (await record_of(queue, "c1")).state is CallState.CANCELLED
    assert await queue.claim(limit=10, lease=5, wait=2.0) == []
    assert (await record_of(queue, "c1")).state is CallState.CANCELLED
    stats = await queue.stats()
    assert (stats.queued, stats.delayed, stats.retrying, stats.running) == (0, 0, 0, 0)


async def test_cancel_of_a_running_call_is_a_conflict(queue: Queue) -> None:
    await queue.put(call("c1"))
    [delivery] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.mark_running(delivery)
    with pytest.raises(Conflict, match="running"):
        await queue.cancel("c1")
    await queue.ack(delivery, Outcome(status_code=200))  # the cancel changed nothing
    assert (await record_of(queue, "c1")).state is CallState.SUCCEEDED


async def test_cancel_of_a_finished_call_is_a_conflict(queue: Queue) -> None:
    await queue.put(call("c1"))
    [delivery] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.ack(delivery, Outcome(status_code=200))
    with pytest.raises(Conflict, match="succeeded"):
        await queue.cancel("c1")
    await queue.put(call("c2"))
    await queue.cancel("c2")
    with pytest.raises(Conflict, match="cancelled"):
        await queue.cancel("c2")
    with pytest.raises(NotFound):
        await queue.cancel("nope")


async def test_dead_letters_by_function_reason_and_since(queue: Queue) -> None:
    now = time.time()
    await bury_one(
        queue, call("f-old", function="f"), reason="retries exhausted", finished_at=now - 3600
    )
    await bury_one(queue, call("f-new", function="f"), reason="not retryable: 500", finished_at=now)
    await bury_one(queue, call("g-new", function="g"), reason="retries exhausted", finished_at=now)

    async def ids(**where: Any) -> set[str]:
        return {r.call_id for r in await queue.dead_letters(where=DeadLetterFilter(**where))}

    assert await ids() == {"f-old", "f-new", "g-new"}
    assert await ids(function=f"f.{NS}") == {"f-old", "f-new"}
    assert await ids(function="f.other") == set()
    assert await ids(reason="retries exhausted") == {"f-old", "g-new"}
    assert await ids(since=now - 60) == {"f-new", "g-new"}
    assert await ids(function=f"f.{NS}", reason="retries exhausted", since=now - 60) == set()
    assert [r.call_id for r in await queue.dead_letters(limit=1)] == ["g-new"]  # newest first


async def test_dead_letter_answers_the_request(queue: Queue) -> None:
    buried = call("c1", body=bytes(range(256)), path="/a/b", query="x=1", method="PUT")
    await bury_one(queue, buried, status_code=500, reason="retries exhausted")
    record, request = await queue.dead_letter("c1")
    assert (record.call_id, record.state, record.reason) == (
        "c1",
        CallState.DEAD,
        "retries exhausted",
    )
    assert request == buried
    await queue.put(call("queued"))
    for unknown in ("nope", "queued"):
        with pytest.raises(NotFound):
            await queue.dead_letter(unknown)


async def test_replay_where_and_purge_answer_how_many(queue: Queue) -> None:
    for name, function in (("f1", "f"), ("f2", "f"), ("g1", "g")):
        await bury_one(queue, call(name, function=function), reason="retries exhausted")
    assert await queue.replay_where(DeadLetterFilter(function="h." + NS)) == 0
    assert await queue.replay_where(DeadLetterFilter(function="f." + NS)) == 2
    assert [r.call_id for r in await queue.dead_letters()] == ["g1"]
    deliveries = await claim_n(queue, 2)
    assert sorted(d.call.call_id for d in deliveries) == ["f1", "f2"]
    assert {d.attempt for d in deliveries} == {1}
    for delivery in deliveries:
        await queue.ack(delivery, Outcome(status_code=200))

    assert await queue.purge(DeadLetterFilter(reason="expired")) == 0
    assert await queue.purge(DeadLetterFilter(reason="retries exhausted")) == 1
    assert await queue.dead_letters() == []
    with pytest.raises(NotFound):
        await queue.dead_letter("g1")
    assert (await queue.stats()).dead == 0
    assert (await record_of(queue, "f1")).state is CallState.SUCCEEDED


async def test_prune_removes_finished_records_and_results(queue: Queue) -> None:
    await queue.put(call("done"))
    [delivery] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.ack(delivery, Outcome(status_code=200, result=RESULT))
    await bury_one(queue, call("dead"), reason="retries exhausted")
    await queue.put(call("waiting"))
    await queue.put(call("later", not_before=time.time() + 3600))

    assert await queue.prune(time.time() - 3600) == 0
    assert await queue.result("done") == RESULT
    assert await queue.prune(time.time() + 1) == 2
    assert await queue.record("done") is None
    assert await queue.result("done") is None
    assert await queue.record("dead") is None
    assert await queue.dead_letters() == []
    assert (await record_of(queue, "later")).state is CallState.DELAYED
    [left] = await queue.claim(limit=10, lease=5, wait=3)
    assert left.call.call_id == "waiting"
    await queue.ack(left, Outcome(status_code=200))
    # A pruned call id may be used again.
    assert await queue.put(call("done", body=b"again", fingerprint="other")) is True


async def test_stats_count_per_function(queue: Queue) -> None:
    async def claim_one(call_id: str) -> Any:
        [delivery] = await queue.claim(limit=1, lease=30, wait=3)
        assert delivery.call.call_id == call_id
        return delivery

    await queue.put(call("f-run", function="f"))
    await claim_one("f-run")
    await queue.put(call("f-retry", function="f"))
    await queue.retry(await claim_one("f-retry"), 3600, Outcome(status_code=503))
    await bury_one(queue, call("f-dead", function="f"), lease=30, reason="retries exhausted")
    await queue.put(call("f-old", function="f", submitted_at=time.time() - 30))
    await queue.put(call("f-new", function="f"))
    await queue.put(call("f-later", function="f", not_before=time.time() + 3600))
    await queue.put(call("g-new", function="g"))

    stats = await queue.stats()
    assert (stats.queued, stats.delayed, stats.running, stats.retrying, stats.dead) == (
        3,
        1,
        1,
        1,
        1,
    )
    by_function = {s.function: s for s in stats.functions}
    assert set(by_function) == {f"f.{NS}", f"g.{NS}"}
    f = by_function[f"f.{NS}"]
    assert (f.queued, f.delayed, f.running, f.retrying, f.dead) == (2, 1, 1, 1, 1)
    assert 29 <= f.oldest_age < 600
    g = by_function[f"g.{NS}"]
    assert g == FunctionStats(f"g.{NS}", queued=1, oldest_age=g.oldest_age)
    assert 0 <= g.oldest_age < 600


async def test_stats_count_settled_calls_and_failed_callbacks_past_a_prune(queue: Queue) -> None:
    for i in range(2):
        await queue.put(call(f"f-ok{i}", function="f"))
    for delivery in await claim_n(queue, 2):
        await queue.ack(delivery, Outcome(status_code=200))
    await queue.put(call("f-bad", function="f"))
    [failed] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.ack(failed, Outcome(status_code=500))
    await bury_one(queue, call("f-dead", function="f"), reason="retries exhausted")
    await queue.put(call("f-retry", function="f"))
    [retried] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.retry(retried, 3600, Outcome(status_code=503))  # not settled for good
    answer = Answer("f-ok0", 200, 0.1, "1700000000000000000")
    await queue.put(call("f-ok0.callback", function="f", answer=answer))
    [posted] = await queue.claim(limit=1, lease=5, wait=3)
    await queue.ack(posted, Outcome(status_code=None, error="callback failed: refused"))

    def counters(stats: Any) -> dict[str, tuple[int, int]]:
        return {s.function: (s.processed, s.callback_failures) for s in stats.functions}

    before = counters(await queue.stats())
    # Four calls of f settled (two acks, a failed ack, a bury); the retry is
    # not; the callback delivery is processed in its own row, failed in f's.
    assert before[f"f.{NS}"] == (4, 1)
    assert before["callbacks"] == (1, 0)

    assert await queue.prune(time.time() + 1) == 5
    assert counters(await queue.stats()) == before
