"""The listing contract of the queue (``pyfaas/queue/base.py``, "Listing"), on every backend.

``calls`` pages through the records newest first, filtered by function,
namespace and state, leaving callback deliveries out; run against the
memory twin, a real SQLite file and a real nats-server, as the steering
contract is (``test_queue_steering``).
"""

from __future__ import annotations

import time

import pytest

from pyfaas.errors import BadRequest
from pyfaas.queue import CallState, Outcome, Queue
from pyfaas.queue.base import CallFilter, CallPage
from pyfaas.queue.envelope import Answer
from tests.contract.test_queue_steering import NS, call


async def every_page(queue: Queue, where: CallFilter, limit: int) -> list[CallPage]:
    pages = [await queue.calls(where, limit)]
    while pages[-1].next is not None:
        assert len(pages) < 50, "the cursor never ends"
        nxt = CallFilter(where.function, where.namespace, where.state, pages[-1].next)
        pages.append(await queue.calls(nxt, limit))
    return pages


def ids(page: CallPage) -> list[str]:
    return [r.call_id for r in page.records]


async def test_calls_are_listed_newest_first_in_pages(queue: Queue) -> None:
    for n in range(7):
        await queue.put(call(f"c{n}", submitted_at=time.time() + n))
    first = await queue.calls(CallFilter(), limit=3)
    assert ids(first) == ["c6", "c5", "c4"]
    assert first.next is not None
    pages = await every_page(queue, CallFilter(), limit=3)
    listed = [i for p in pages for i in ids(p)]
    assert listed == [f"c{n}" for n in reversed(range(7))]  # each once, in order
    assert all(len(p.records) <= 3 for p in pages)
    record = await queue.record("c3")
    assert record in pages[1].records  # the same record ``record`` answers
    assert (await queue.calls(None, limit=50)).next is None


async def test_calls_filter_by_function_namespace_and_state(queue: Queue) -> None:
    await queue.put(call("a1", "alpha"))
    await queue.put(call("b1", "beta"))
    await queue.put(call("a2", "alpha", not_before=time.time() + 600))
    await queue.put(call("b2", "beta"))
    [delivery] = await queue.claim(limit=1, lease=5, wait=3)
    assert delivery.call.call_id == "a1"
    await queue.ack(delivery, Outcome(status_code=200))

    async def listed(**fields: object) -> set[str]:
        pages = await every_page(queue, CallFilter(**fields), limit=10)  # type: ignore[arg-type]
        return {i for p in pages for i in ids(p)}

    assert await listed(function="alpha") == {"a1", "a2"}
    assert await listed(function="alpha", namespace=NS) == {"a1", "a2"}
    assert await listed(function="alpha", namespace="elsewhere") == set()
    assert await listed(state=CallState.SUCCEEDED) == {"a1"}
    assert await listed(state=CallState.DELAYED) == {"a2"}
    assert await listed(state=CallState.QUEUED) == {"b1", "b2"}
    assert await listed(function="beta", state=CallState.QUEUED) == {"b1", "b2"}
    assert await listed(function="beta", state=CallState.SUCCEEDED) == set()
    [succeeded] = (await queue.calls(CallFilter(state=CallState.SUCCEEDED))).records
    assert (succeeded.state, succeeded.status_code) == (CallState.SUCCEEDED, 200)


async def test_a_cancelled_call_is_listed_in_its_state(queue: Queue) -> None:
    await queue.put(call("later", not_before=time.time() + 600))
    await queue.cancel("later")
    page = await queue.calls(CallFilter(state=CallState.CANCELLED))
    assert ids(page) == ["later"]
    assert page.records[0].state is CallState.CANCELLED


async def test_callback_deliveries_are_not_listed(queue: Queue) -> None:
    await queue.put(call("with-callback", callback_url="http://127.0.0.1:9/hook"))
    answer = Answer("with-callback", 200, 0.1, "0")
    await queue.put(call("with-callback.callback", answer=answer))
    assert ids(await queue.calls()) == ["with-callback"]


@pytest.mark.parametrize("cursor", ["x", "-1", "1.5", "9" * 40])
async def test_a_cursor_no_page_gave_is_a_bad_request(queue: Queue, cursor: str) -> None:
    await queue.put(call("c1"))
    with pytest.raises(BadRequest, match="cursor"):
        await queue.calls(CallFilter(before=cursor))
