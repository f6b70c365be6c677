"""The NATS queue's dead letters: stream ``PYFAAS_DEAD``, one subject per call.

A buried call's message is copied to ``pyfaas.dead.<key>`` with a
``Pyfaas-Call-Id`` header, percent-encoded since headers are ASCII (letters
written before the header was added are read by decoding them). A message
on the calls subject that holds no call (anything may publish there) is set
aside here too, so that ``claim`` never fails on it: its record is created
under the id it names (its ``Nats-Msg-Id``, else the ``id`` in its JSON) if
no other call has that id, else under ``seq-<stream sequence>``, and says
``undecodable payload``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from pyfaas.queue._records import claimed_id, decode_call, undecodable_record
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_layout import NatsNames
from pyfaas.queue.backends._nats_publish import Publisher

CALL_ID = "Pyfaas-Call-Id"


class DeadLetters:
    """The dead-letter stream of one queue."""

    def __init__(self, js: JetStreamContext, pub: Publisher, names: NatsNames) -> None:
        self._js = js
        self._pub = pub
        self._names = names

    def _subject(self, call_id: str) -> str:
        return f"{self._names.dead_subject}.{records.key_for(call_id)}"

    async def add(self, call_id: str, data: bytes) -> None:
        await self._pub.publish(self._subject(call_id), data, {CALL_ID: quote(call_id)})

    async def newest(self) -> AsyncIterator[str]:
        """The call id of each letter still in the stream, newest first."""
        info = await self._js.stream_info(self._names.dead_stream)
        seq = info.state.last_seq
        while seq >= max(info.state.first_seq, 1):
            call_id = await self._call_id_at(seq)
            seq -= 1
            if call_id is not None:
                yield call_id

    async def _call_id_at(self, seq: int) -> str | None:
        try:
            msg = await self._js.get_msg(self._names.dead_stream, seq=seq)
        except nats.js.errors.NotFoundError:
            return None  # replayed: a gap
        named = (msg.headers or {}).get(CALL_ID)
        if named:
            return unquote(str(named))
        call = decode_call(msg.data)
        return None if call is None else call.call_id

    async def take(self, call_id: str) -> bytes | None:
        """The message of the letter ``call_id``, or None if there is none."""
        try:
            msg = await self._js.get_last_msg(self._names.dead_stream, self._subject(call_id))
        except nats.js.errors.NotFoundError:
            return None
        return msg.data or b""

    async def remove(self, call_id: str) -> None:
        await self._js.purge_stream(self._names.dead_stream, subject=self._subject(call_id))

    async def set_aside(self, msg: Msg) -> None:
        """Move ``msg``, which holds no call, here, with a record that says so.

        Never raises: a message that could not be moved stays leased until
        its lease runs out, and the claim that gets it then tries again.
        """
        meta = msg.metadata
        seq = meta.sequence.stream
        named = (msg.headers or {}).get("Nats-Msg-Id") or claimed_id(msg.data)
        # Its own id unless another call has it; a stream made anew counts
        # from 1 again, so the sequence alone may be taken too.
        candidates = [f"seq-{seq}", f"seq-{seq}-{time.time_ns()}"]
        if named:
            candidates.insert(0, str(named))
        submitted = meta.timestamp.timestamp()
        try:
            for call_id in candidates:
                record = undecodable_record(call_id, meta.num_delivered, submitted)
                if await records.create(self._pub, self._names.bucket, record):
                    break
            await self.add(call_id, msg.data)
            await self._pub.request(msg.reply, b"")  # acked: gone from the calls stream
        except nats.errors.Error:
            pass
