"""Asynchronous admission and pyfaas's /system/calls, dead-letters and queue routes."""

from __future__ import annotations

from aiohttp import ClientSession

from pyfaas.errors import QueueUnavailable
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import Outcome, QueuedCall
from tests.unit.gateway.conftest import AUTH, MakeClient, deploy

Client = ClientSession


class RefusingQueue(MemoryQueue):
    """A real memory queue that cannot store anything right now."""

    async def put(self, call: QueuedCall) -> bool:
        raise QueueUnavailable("disk full")


async def test_submit_is_queued_with_everything(
    client: Client, provider: MemoryProvider, queue: MemoryQueue
) -> None:
    await deploy(provider, "echo")
    resp = await client.post(
        "/async-function/echo.openfaas-fn/a/b?x=1",
        data=b"payload",
        headers={"X-Callback-Url": "http://127.0.0.1:9/cb", "X-Custom": "v"},
    )
    assert resp.status == 202
    assert await resp.read() == b""
    call_id = resp.headers["X-Call-Id"]
    [delivery] = await queue.claim(limit=1, lease=30, wait=0)
    call = delivery.call
    assert call.call_id == call_id
    assert (call.function, call.namespace) == ("echo", "openfaas-fn")
    assert (call.method, call.path, call.query) == ("POST", "/a/b", "x=1")
    assert call.body == b"payload"
    assert call.callback_url == "http://127.0.0.1:9/cb"
    headers = dict(call.headers)
    assert headers["X-Custom"] == "v"
    assert headers["X-Call-Id"] == call_id
    assert headers["X-Start-Time"] == resp.headers["X-Start-Time"]
    assert call.submitted_at > 0


async def test_duplicate_call_id_is_still_202(
    client: Client, provider: MemoryProvider, queue: MemoryQueue
) -> None:
    await deploy(provider, "echo")
    for _ in range(2):
        resp = await client.post("/async-function/echo", data=b"x", headers={"X-Call-Id": "c-1"})
        assert resp.status == 202
        assert resp.headers["X-Call-Id"] == "c-1"
    assert (await queue.stats()).queued == 1


async def test_unknown_function_is_404(client: Client) -> None:
    assert (await client.post("/async-function/nope", data=b"x")).status == 404
    assert (await client.post("/async-function/.openfaas-fn", data=b"x")).status == 404


async def test_oversize_body_is_413(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/async-function/echo", data=b"x" * (64 * 1024 + 1))
    assert resp.status == 413


async def test_bad_callback_url_is_400(client: Client, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    for url in ("not a url", "/relative", "ftp://host/x", "http://"):
        resp = await client.post("/async-function/echo", headers={"X-Callback-Url": url})
        assert resp.status == 400, url


async def test_queue_failure_is_503(make_client: MakeClient, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    refusing = RefusingQueue()
    await refusing.start()
    client = await make_client(queue=refusing)
    resp = await client.post("/async-function/echo", data=b"x")
    assert resp.status == 503
    assert "disk full" in await resp.text()


async def test_no_queue_is_503(make_client: MakeClient, provider: MemoryProvider) -> None:
    await deploy(provider, "echo")
    client = await make_client(queue=None)
    assert (await client.post("/async-function/echo", data=b"x")).status == 503
    assert (await client.get("/system/queue", headers=AUTH)).status == 503


async def test_call_record_and_queue_stats(
    client: Client, provider: MemoryProvider, queue: MemoryQueue
) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/async-function/echo", data=b"x")
    call_id = resp.headers["X-Call-Id"]
    record = await (await client.get(f"/system/calls/{call_id}", headers=AUTH)).json()
    assert record["callId"] == call_id
    assert record["state"] == "queued"
    assert (await client.get("/system/calls/unknown", headers=AUTH)).status == 404
    stats = await (await client.get("/system/queue", headers=AUTH)).json()
    # The first three keys are the ones older clients read.
    assert {k: stats[k] for k in ("queued", "running", "dead")} == {
        "queued": 1,
        "running": 0,
        "dead": 0,
    }
    assert (await client.get(f"/system/calls/{call_id}")).status == 401


async def test_dead_letters_and_replay(
    client: Client, provider: MemoryProvider, queue: MemoryQueue
) -> None:
    await deploy(provider, "echo")
    resp = await client.post("/async-function/echo", data=b"x")
    call_id = resp.headers["X-Call-Id"]
    [delivery] = await queue.claim(limit=1, lease=30, wait=0)
    await queue.bury(delivery, Outcome(status_code=500, error="boom"))
    dead = await (await client.get("/system/dead-letters?limit=10", headers=AUTH)).json()
    assert [d["callId"] for d in dead] == [call_id]
    assert (await client.get("/system/dead-letters?limit=x", headers=AUTH)).status == 400
    resp = await client.post(f"/system/dead-letters/{call_id}/replay", headers=AUTH)
    assert resp.status == 202
    assert (await queue.stats()).queued == 1
    resp = await client.post("/system/dead-letters/unknown/replay", headers=AUTH)
    assert resp.status == 404


async def test_the_admin_login_is_not_kept_with_a_queued_call(
    client: Client, provider: MemoryProvider, queue: MemoryQueue
) -> None:
    await deploy(provider, "echo")
    for auth in (AUTH, {"Authorization": "Bearer own-token"}):
        resp = await client.post("/async-function/echo", data=b"x", headers=auth)
        assert resp.status == 202
    first, second = await queue.claim(limit=2, lease=30, wait=0)
    assert "Authorization" not in dict(first.call.headers)
    assert dict(second.call.headers)["Authorization"] == "Bearer own-token"
