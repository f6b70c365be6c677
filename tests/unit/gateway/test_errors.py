"""Errors carry their own headers, and each server renders them in one place."""

from __future__ import annotations

from pyfaas.errors import (
    MethodNotAllowed,
    NotFound,
    QueueUncertain,
    Unauthorized,
)
from pyfaas.gateway.errors import error_parts, front_error
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.queue.envelope import QueuedCall
from tests.unit.gateway.conftest import AUTH, MakeClient, deploy


def test_an_error_carries_the_headers_its_status_needs() -> None:
    assert NotFound("x").headers == ()
    assert MethodNotAllowed("x").headers == ()
    assert MethodNotAllowed("x", ["GET", "POST"]).headers == (("Allow", "GET, POST"),)
    assert Unauthorized("x").headers == ()
    assert Unauthorized("x", 'Basic realm="R"').headers == (
        ("WWW-Authenticate", 'Basic realm="R"'),
    )
    assert QueueUncertain("x", "c-1").headers == (("X-Call-Id", "c-1"),)


def test_the_rendered_error_is_one_line_with_its_headers() -> None:
    status, headers, body = error_parts(405, "no\nway", [("Allow", "POST")])
    assert (status, body) == (405, b"no way\n")
    assert headers == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("X-Content-Type-Options", "nosniff"),
        ("Allow", "POST"),
    ]
    response = front_error(QueueUncertain("may\r\nrun", "c-2"))
    assert (response.status, response.body) == (503, b"may run\n")
    assert ("X-Call-Id", "c-2") in response.headers


class _UncertainQueue(MemoryQueue):
    async def put(self, call: QueuedCall) -> bool:
        raise QueueUncertain("the store did not answer", call.call_id)


async def test_an_uncertain_submission_names_its_call(
    make_client: MakeClient, provider: MemoryProvider
) -> None:
    await deploy(provider, "echo")
    queue = _UncertainQueue()
    await queue.start()
    try:
        client = await make_client(queue=queue)
        resp = await client.post("/async-function/echo", data=b"x", headers={"X-Call-Id": "u-1"})
        assert resp.status == 503
        assert resp.headers["X-Call-Id"] == "u-1"
        assert (await resp.text()).count("\n") == 1
    finally:
        await queue.close()


async def test_both_servers_answer_a_wrong_method_with_allow(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.request("TRACE", "/function/echo")
    assert resp.status == 405
    assert resp.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    resp = await client.get("/async-function/echo")
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST"
    resp = await client.patch("/system/functions", headers=AUTH)
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
