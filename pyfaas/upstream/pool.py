"""The pool: idle keep-alive connections per address, and one exchange on one of them.

A request is sent at most twice, and twice only when that cannot make the
server run it twice: Go's ``net/http`` transport's rule, less its
``Idempotency-Key`` exception for POSTs. A pooled connection that the server
has closed while idle, as far as this process has seen, is dropped when
taken. A request that then fails on a reused connection before any response
byte arrives is retried once, on a fresh connection, if its body is whole
bytes (or none) and either no byte of it was accepted by the kernel (the
connection was closed before the write, or the write failed at once) or its
method is safe to repeat: GET, HEAD, OPTIONS, TRACE (Go's ``isReplayable``).
Otherwise the server may have read it, and the caller gets
``UpstreamError``: a replica that reads a POST and dies without answering is
not sent that POST again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable

from pyfaas.upstream.address import Address, Key
from pyfaas.upstream.connection import Connection, Ended
from pyfaas.upstream.errors import ConnectFailed, StaleConnection, UpstreamError
from pyfaas.upstream.request import request_head, send_streamed, whole_framing
from pyfaas.upstream.response import MAX_HEAD, UpstreamResponse, final_response, parse_head

IDLE_PER_ADDRESS = 256
# Safe to send again after the server may have read them (Go's isReplayable). RFC 9110
# §9.2.2 also lets PUT and DELETE be retried; a function's PUT need not be idempotent.
REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
Body = bytes | AsyncIterable[bytes] | None


class UpstreamPool:
    """Keep-alive connections per replica address."""

    def __init__(self) -> None:
        self._idle: dict[Key, list[Connection]] = {}

    async def _connect(self, address: Address) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            if address.unix_path is not None:
                _, conn = await loop.create_unix_connection(Connection, address.unix_path)
            else:
                _, conn = await loop.create_connection(Connection, address.host, address.port)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {address}: {exc}") from exc
        return conn

    def give_back(self, key: Key, conn: Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < IDLE_PER_ADDRESS and conn.reusable:
            idle.append(conn)
        else:
            conn.close()

    def _pooled(self, key: Key) -> Connection | None:
        """An idle connection still open; ones the server has closed meanwhile are dropped."""
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.reusable:
                return conn
            conn.close()
        return None

    async def request(
        self,
        address: Address,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
    ) -> UpstreamResponse:
        key = (address.host, address.port, address.unix_path)
        conn = self._pooled(key)
        if conn is not None:
            try:
                return await self._exchange(conn, key, method, target, headers, body)
            except StaleConnection as exc:
                if not (isinstance(body, bytes | None) and (not exc.sent or method in REPLAYABLE)):
                    raise
        conn = await self._connect(address)
        return await self._exchange(conn, key, method, target, headers, body)

    async def _exchange(
        self,
        conn: Connection,
        key: Key,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
    ) -> UpstreamResponse:
        sent = False  # whether any byte of the request may have reached the server
        try:
            if isinstance(body, bytes | None):
                conn.send_whole(
                    request_head(method, target, headers, whole_framing(method, body))
                    + (body or b"")
                )
                sent = True
            else:
                sent = True
                await send_streamed(conn, method, target, headers, body)
            # Not read_until: one coroutine less on every request's path.
            while (head := conn.take_until(b"\r\n\r\n", MAX_HEAD)) is None:
                await conn.arrival()
        except Ended as exc:
            conn.close()
            if not exc.partial:
                raise StaleConnection(
                    "replica closed the connection before answering", sent
                ) from exc
            raise UpstreamError("replica sent a truncated response head") from exc
        except ConnectionError as exc:
            conn.close()
            raise StaleConnection(f"connection to replica failed: {exc}", sent) from exc
        except OSError as exc:
            conn.close()
            raise UpstreamError(f"exchange with replica failed: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        response = parse_head(head, method, conn, self, key)
        if response.status >= 200:
            return response
        return await final_response(response, method, conn, self, key)

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
                await conn.wait_closed()
