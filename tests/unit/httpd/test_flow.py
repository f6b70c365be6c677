"""Flow control: a big response to a client that reads slowly, a big request body."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time

import pytest

from pyfaas.httpd.limits import Limits
from tests.unit.httpd.harness import ServerThread, get

MIB = 1024 * 1024


@pytest.mark.integration  # waits seconds of real time
def test_a_slow_reader_gets_a_large_streamed_response_whole(server: ServerThread) -> None:
    with server.client(timeout=30) as client:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        client.send(get("/stream?n=256&size=65536"))
        time.sleep(0.3)  # the server fills the socket and must wait, not buffer it all
        reply = client.response()
    assert len(reply.body) == 256 * 65536
    assert reply.body[:65536] == b"a" * 65536
    assert reply.body[-65536:] == bytes([ord("a") + 255 % 26]) * 65536


def test_a_slow_reader_gets_a_large_whole_response(server: ServerThread) -> None:
    with server.client(timeout=30) as client:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        client.send(get("/big?size=8388608"))
        time.sleep(0.1)  # the server fills the socket and must wait, not buffer it all
        reply = client.response()
        assert len(reply.body) == 8 * MIB
        client.send(get("/echo"))
        assert client.response().status == 200


def test_a_large_request_body_is_read_in_full(server: ServerThread) -> None:
    body = os.urandom(24 * MIB)
    with server.client(timeout=60) as client:
        head = f"POST /count HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n"
        sender = threading.Thread(target=client.send, args=(head.encode() + body,))
        sender.start()
        reply = client.response()
        sender.join(30)
    assert reply.body.decode() == f"{len(body)} {hashlib.sha256(body).hexdigest()}"


@pytest.mark.integration  # waits seconds of real time
def test_a_body_the_handler_does_not_read_yet_is_held_back_not_buffered() -> None:
    # The handler waits 2 s before it reads: the server stops reading once its
    # buffer is full, so the client's sends block instead of filling memory, and
    # the wait is not the client's stall (no 408, though read_timeout is 1 s).
    body = os.urandom(32 * MIB)
    sent = [0]

    def send_all(sock: socket.socket) -> None:
        view = memoryview(body)
        while view:
            n = sock.send(view[:65536])
            sent[0] += n
            view = view[n:]

    with ServerThread(Limits(read_timeout=1.0)) as running, running.client(timeout=30) as client:
        head = f"POST /count?s=2 HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n"
        client.send(head.encode())
        sender = threading.Thread(target=send_all, args=(client.sock,))
        sender.start()
        time.sleep(1.5)  # well before the handler reads
        held_at = sent[0]
        reply = client.response()
        sender.join(30)
    assert held_at < 16 * MIB  # held back well before the whole body
    assert reply.status == 200
    assert reply.body.decode() == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
