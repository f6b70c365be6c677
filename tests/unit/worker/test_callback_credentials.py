"""A callback URL's credentials are posted as basic auth and never written to the worker's log."""

from __future__ import annotations

import base64
import io
import time
import uuid

from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import QueuedCall
from pyfaas.worker.logs import EventLog, redact
from pyfaas.worker.settings import WorkerSettings
from tests.unit.worker.conftest import running_worker, settled
from tests.unit.worker.fakes import FakeGateway, Reply


def test_a_urls_password_is_redacted() -> None:
    assert redact("http://user:pw@host/cb") == "http://user:***@host/cb"
    assert redact("https://u:p@ss@host:8/x?at=a@b") == "https://u:***@host:8/x?at=a@b"
    assert redact("nats://u:secret@127.0.0.1:4222") == "nats://u:***@127.0.0.1:4222"
    assert redact("http://t0ken@host/") == "http://***@host/"
    for plain in ("http://host/a@b", "sqlite:///tmp/a@b.db", "http://h/"):
        assert redact(plain) == plain


def test_the_start_line_shows_no_queue_password() -> None:
    out = io.StringIO()
    log = EventLog(out)
    log.started(1, "nats://worker:s3cret@127.0.0.1:4222", "http://127.0.0.1:8080", "w")
    assert "s3cret" not in out.getvalue()
    assert "nats://worker:***@127.0.0.1:4222" in out.getvalue()


def _call(callback_url: str) -> QueuedCall:
    call_id = uuid.uuid4().hex
    headers = [("X-Call-Id", call_id), ("X-Start-Time", "1700000000000000000")]
    return QueuedCall(
        call_id,
        "echo",
        "openfaas-fn",
        headers=headers,
        callback_url=callback_url,
        submitted_at=time.time(),
    )


async def test_callback_credentials_are_basic_auth_and_redacted_in_the_log(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    gateway.callback_script["hook"] = [Reply(status=503), Reply(status=200)]
    host = gateway.url.removeprefix("http://")
    call = _call(f"http://alice:pa55word@{host}/cb/hook")
    await queue.put(call)
    async with running_worker(settings, queue) as worker:
        record = await settled(queue, call.call_id)
    assert record.callback_status == 200
    assert len(gateway.callbacks) == 2
    token = base64.b64encode(b"alice:pa55word").decode()
    assert all(seen.headers.get("Authorization") == f"Basic {token}" for seen in gateway.callbacks)
    log = worker.output.getvalue()
    assert f"http://alice:***@{host}/cb/hook" in log  # the retry and the posted lines
    assert "pa55word" not in log


async def test_a_refused_callback_url_is_logged_redacted(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    call = _call("ftp://bob:hunter2@example.com/x")
    await queue.put(call)
    async with running_worker(settings, queue) as worker:
        await settled(queue, call.call_id)
    log = worker.output.getvalue()
    assert "refused" in log
    assert "bob:***@example.com" in log
    assert "hunter2" not in log


async def test_a_callback_carries_the_chains_depth_plus_one(
    gateway: FakeGateway, queue: MemoryQueue, settings: WorkerSettings
) -> None:
    # The function cannot reset the depth with a header of its own.
    gateway.script["echo.openfaas-fn"] = [Reply(headers={"X-Pyfaas-Callback-Depth": "0"})]
    first, deeper = _call(f"{gateway.url}/cb/a"), _call(f"{gateway.url}/cb/b")
    deeper.depth = 2
    for call in (first, deeper):
        await queue.put(call)
    async with running_worker(settings, queue):
        for call in (first, deeper):
            await settled(queue, call.call_id)
    depths = {seen.path: seen.header_list for seen in gateway.callbacks}
    assert [v for k, v in depths["/cb/a"] if k == "X-Pyfaas-Callback-Depth"] == ["1"]
    assert [v for k, v in depths["/cb/b"] if k == "X-Pyfaas-Callback-Depth"] == ["3"]
