"""Requests and responses on the wire: keep-alive, pipelining, chunked bodies both ways."""

from __future__ import annotations

import json
import socket

from tests.unit.httpd.harness import ServerThread, get, post


def test_keep_alive_serves_requests_in_turn(server: ServerThread) -> None:
    with server.client() as client:
        for i in range(3):
            client.send(post(f"/echo?i={i}", b"hello %d" % i))
            reply = client.response()
            assert reply.status == 200
            assert reply.body == b"hello %d" % i
            assert reply.headers["x-target"] == f"/echo?i={i}"
            assert "connection" not in reply.headers


def test_pipelined_requests_are_answered_in_order(server: ServerThread) -> None:
    with server.client() as client:
        burst = b"".join(
            [get("/echo?s=0.05"), post("/a", b"one"), get("/stream?n=4&size=3"), post("/b", b"two")]
        )
        client.send(burst)
        first, second, third, fourth = (client.response() for _ in range(4))
    assert (first.status, first.headers["x-target"]) == (200, "/echo?s=0.05")
    assert second.body == b"one"
    assert third.body == b"aaabbbcccddd"
    assert fourth.body == b"two"


def test_chunked_request_body(server: ServerThread) -> None:
    with server.client() as client:
        client.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
        )
        reply = client.response()
        assert reply.body == b"hello world"
        client.send(get("/echo"))  # the connection is still in step
        assert client.response().status == 200


def test_streamed_response_is_chunked(server: ServerThread) -> None:
    with server.client() as client:
        client.send(get("/stream?n=3&size=2"))
        reply = client.response()
    assert reply.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in reply.headers
    assert reply.body == b"aabbcc"


def test_head_gets_the_head_only(server: ServerThread) -> None:
    with server.client() as client:
        client.send(b"HEAD /big?size=1000 HTTP/1.1\r\nHost: t\r\n\r\n")
        reply = client.response(head_request=True)
        assert reply.headers["content-length"] == "1000"
        client.send(get("/echo"))
        assert client.response().status == 200  # no stray body came before it


def test_http10_closes_after_the_response(server: ServerThread) -> None:
    with server.client() as client:
        client.send(b"GET /echo HTTP/1.0\r\n\r\n")
        reply = client.response()
        assert reply.status == 200
        assert reply.headers["connection"] == "close"
        assert client.closed()


def test_connection_close_is_honoured(server: ServerThread) -> None:
    with server.client() as client:
        client.send(get("/echo", "Connection: close\r\n") + get("/never"))
        assert client.response().headers["connection"] == "close"
        assert client.closed()


def test_upgrade_is_served_as_http11_then_closed(server: ServerThread) -> None:
    with server.client() as client:
        client.send(get("/headers", "Connection: Upgrade\r\nUpgrade: h2c\r\n"))
        reply = client.response()
        assert reply.status == 200
        assert ["Upgrade", "h2c"] in json.loads(reply.body)
        assert client.closed()


def test_a_handler_error_is_a_500_and_the_connection_goes_on() -> None:
    from pyfaas.httpd.messages import Request, Response

    async def broken(request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        return Response(200, [], b"fine")

    with ServerThread(handler=broken) as running, running.client() as client:
        client.send(get("/boom"))
        reply = client.response()
        assert (reply.status, reply.body) == (500, b"Internal Server Error\n")
        client.send(get("/ok"))
        assert client.response().body == b"fine"


def test_a_client_that_half_closes_still_gets_its_answers(server: ServerThread) -> None:
    with server.client() as client:
        client.send(get("/echo?s=0.05") + post("/echo", b"second"))
        client.sock.shutdown(socket.SHUT_WR)
        first, second = client.response(), client.response()
        assert (first.status, second.body) == (200, b"second")
        assert client.closed()


def test_a_half_close_mid_head_closes_without_an_answer(server: ServerThread) -> None:
    with server.client() as client:
        client.send(b"GET /echo HTTP/1.1\r\nHo")
        client.sock.shutdown(socket.SHUT_WR)
        assert client.closed()
        assert client.pending() == b""
