"""Call identity: generated call ids are time-ordered version 7 UUIDs; a caller's own id is
kept if valid, and refused with 400 on both invocation paths if not.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from aiohttp import ClientSession

from pyfaas.errors import BadRequest
from pyfaas.gateway.callid import MAX_CALL_ID, call_identity, check_call_id, new_call_id
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from tests.unit.gateway.conftest import deploy


def test_generated_ids_are_distinct_version_7_uuids_in_canonical_form() -> None:
    ids = [new_call_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_generated_ids_start_with_the_time_and_sort_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = new_call_id()
    time.sleep(0.002)
    second = new_call_id()
    after = time.time_ns() // 1_000_000
    millis = [uuid.UUID(text).int >> 80 for text in (first, second)]
    assert before <= millis[0] < millis[1] <= after
    assert first < second


def test_a_callers_id_is_kept_and_start_time_is_nanoseconds() -> None:
    call_id, start = call_identity("mine-1")
    assert call_id == "mine-1"
    assert start.isdigit()
    assert len(start) >= 19
    generated, _ = call_identity(None)
    assert uuid.UUID(generated).version == 7


VALID = ["a", "mine-1", "Z.y_x:9-", "x" * MAX_CALL_ID, "01931d7e-5b3c-7c4e-9a2b-3c4d5e6f7a8b"]
INVALID = {
    "empty": "",
    "too-long": "x" * (MAX_CALL_ID + 1),
    "space": "two words",
    "semicolon": "a;b",
    "slash": "a/b",
    "quote": 'a"b',
    "non-ascii": "caf\u00e9",
    "reserved suffix": "job-1.callback",
}


@pytest.mark.parametrize("given", VALID)
def test_a_valid_callers_id_is_kept(given: str) -> None:
    assert check_call_id(given) == given
    assert call_identity(given)[0] == given


@pytest.mark.parametrize("given", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_callers_id_is_a_bad_request(given: str) -> None:
    with pytest.raises(BadRequest) as caught:
        call_identity(given)
    assert caught.value.status == 400
    assert caught.value.message.startswith("X-Call-Id ")
    assert len(caught.value.message) < 250


def test_the_messages_say_what_is_wrong() -> None:
    with pytest.raises(BadRequest, match="must not be empty"):
        check_call_id("")
    with pytest.raises(BadRequest, match="has 129 characters; at most 128"):
        check_call_id("x" * 129)
    with pytest.raises(BadRequest, match=r"'a/b' may hold only ASCII letters, digits and \. _ : -"):
        check_call_id("a/b")
    with pytest.raises(BadRequest, match=r"must not end in '\.callback': it is reserved"):
        check_call_id("job-1.callback")


def test_generated_ids_pass_the_check() -> None:
    for _ in range(1000):
        generated = new_call_id()
        assert check_call_id(generated) == generated


@pytest.mark.integration
@pytest.mark.parametrize("given", VALID)
async def test_a_valid_id_is_echoed_on_both_invocation_paths(
    client: ClientSession, provider: MemoryProvider, queue: MemoryQueue, given: str
) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/function/echo", data=b"x", headers={"X-Call-Id": given})
    assert resp.status == 200
    assert resp.headers["X-Call-Id"] == given
    assert json.loads(resp.headers["X-Echo-Headers"])["X-Call-Id"] == given
    resp = await client.post("/async-function/echo", data=b"x", headers={"X-Call-Id": given})
    assert resp.status == 202
    assert resp.headers["X-Call-Id"] == given
    [delivery] = await queue.claim(limit=1, lease=30, wait=0)
    assert delivery.call.call_id == given


@pytest.mark.integration
@pytest.mark.parametrize("given", INVALID.values(), ids=INVALID.keys())
@pytest.mark.parametrize("path", ["/function/echo", "/async-function/echo"])
async def test_an_invalid_id_is_400_on_both_invocation_paths(
    client: ClientSession, provider: MemoryProvider, queue: MemoryQueue, path: str, given: str
) -> None:
    await deploy(provider, "echo")
    resp = await client.post(path, data=b"x", headers={"X-Call-Id": given})
    assert resp.status == 400
    text = await resp.text()
    assert text.startswith("X-Call-Id ")
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert "X-Echo-Headers" not in resp.headers  # the function was not called
    assert (await queue.stats()).queued == 0  # nor the call stored


@pytest.mark.integration
async def test_an_invalid_id_does_not_scale_a_function_from_zero(
    client: ClientSession, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    await provider.scale("echo", "openfaas-fn", 0)
    resp = await client.post("/function/echo", data=b"x", headers={"X-Call-Id": "a b"})
    assert resp.status == 400
    assert (await provider.get_function("echo", "openfaas-fn")).replicas == 0
