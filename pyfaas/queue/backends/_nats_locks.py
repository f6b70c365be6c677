"""Run locks: who may start a call, a worker's attempt or a cancel, decided by the server.

A KV bucket holds one entry per call that a worker claimed or a cancel
reached: the number of the attempt last handed out, or ``c`` once cancelled.
Each change is a write that expects the revision its writer read (0: no
entry yet), so a claim and a cancel that race are ordered by JetStream: one
of them finds the other's write and gives way. A cancelled call is therefore
never run, and a call a worker took is never reported cancelled.

A call's first delivery creates the entry (one write, started with the claim
and awaited before the call runs); later attempts and cancels read it first.
"""

from __future__ import annotations

import asyncio

import nats.js.errors
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.backends._nats_records import WRONG_LAST_SEQUENCE, key_for

CANCELLED = "c"


class Locks:
    """The run locks of one queue."""

    def __init__(self, pub: Publisher, kv: KeyValue, bucket: str) -> None:
        self._pub = pub
        self._kv = kv
        self._bucket = bucket

    def _subject(self, call_id: str) -> str:
        return f"$KV.{self._bucket}.{key_for(call_id)}"

    @property
    def stream(self) -> str:
        return f"KV_{self._bucket}"

    def subject(self, call_id: str) -> str:
        """The lock's subject in ``stream``, e.g. to purge it with the call's record."""
        return self._subject(call_id)

    async def read(self, call_id: str) -> tuple[str | None, int]:
        """The lock's value (None: no entry) and its revision (0: none)."""
        try:
            entry = await self._kv.get(key_for(call_id))
        except nats.js.errors.KeyNotFoundError:
            return None, 0
        if entry.value is None or entry.operation is not None:
            return None, entry.revision or 0
        return entry.value.decode(), entry.revision or 0

    async def swap(self, call_id: str, value: str, expect: int) -> bool:
        """Write ``value`` over revision ``expect`` (0: none); whether it was written."""
        try:
            await self._pub.publish(
                self._subject(call_id),
                value.encode(),
                {"Nats-Expected-Last-Subject-Sequence": str(expect)},
            )
        except nats.js.errors.APIError as exc:
            if exc.err_code not in WRONG_LAST_SEQUENCE:
                raise
            return False
        return True

    async def send_first(self, call_id: str) -> asyncio.Future[Msg]:
        """Send the create of a first attempt's lock; ``first_taken`` reads its reply."""
        return await self._pub.send(
            self._subject(call_id), b"1", {"Nats-Expected-Last-Subject-Sequence": "0"}
        )

    async def first_taken(self, call_id: str, sent: asyncio.Future[Msg]) -> bool:
        """Whether the first attempt has the call; False if it was cancelled."""
        try:
            self._pub.ack_of(await sent)
        except nats.js.errors.APIError as exc:
            if exc.err_code not in WRONG_LAST_SEQUENCE:
                raise
            return await self.take(call_id, 1)  # an entry there: a replay's, or a cancel's
        return True

    async def take(self, call_id: str, attempt: int) -> bool:
        """Take the call for ``attempt``; False if it was cancelled.

        The first attempt creates the entry in one write; a later one, or a
        first whose create finds an entry (a replay), reads and swaps.
        """
        if attempt == 1 and await self.swap(call_id, "1", 0):
            return True
        while True:
            value, revision = await self.read(call_id)
            if value == CANCELLED:
                return False
            if await self.swap(call_id, str(attempt), revision):
                return True

    async def last_attempt(self, call_id: str) -> tuple[int, bool]:
        """The attempt last handed out (0: none) and whether the call was cancelled."""
        value, _ = await self.read(call_id)
        if value == CANCELLED:
            return 0, True
        return (int(value) if value and value.isdigit() else 0), False
