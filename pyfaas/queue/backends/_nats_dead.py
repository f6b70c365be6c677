"""The NATS queue's dead letters: stream ``PYFAAS_DEAD``, one subject per function.

A buried or expired call's message is copied to
``pyfaas.dead.<namespace>.<function>`` with a ``Pyfaas-Call-Id`` header,
percent-encoded since headers are ASCII; the call's record keeps the
letter's stream sequence (``dseq``), which is how one letter is found and
removed, and per-function counts are the stream's counts per subject.
Letters written before that are on ``pyfaas.dead.<key>``, one subject per
call, and are found by their subject (and read by decoding them when they
lack the header).

A message on a calls subject that holds no call (anything may publish
there) is set aside here too, on ``pyfaas.dead._.undecodable``, so that
``claim`` never fails on it: its record is created under the id it names
(its ``Nats-Msg-Id``, else the ``id`` in its JSON) if no other call has that
id, else under ``seq-<stream sequence>``, and says ``undecodable payload``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import quote, unquote

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from pyfaas.queue._records import CALLBACKS, claimed_id, decode_call, undecodable_record
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._nats_errors import delete_if_there
from pyfaas.queue.backends._nats_layout import CALLBACK_LANE, NatsNames
from pyfaas.queue.backends._nats_publish import Publisher

CALL_ID = "Pyfaas-Call-Id"
_UNDECODABLE = ("_", "undecodable")


class DeadLetters:
    """The dead-letter stream of one queue."""

    def __init__(self, js: JetStreamContext, pub: Publisher, names: NatsNames) -> None:
        self._js = js
        self._pub = pub
        self._names = names

    @property
    def subjects(self) -> list[str]:
        return [f"{self._names.dead_subject}.*", f"{self._names.dead_subject}.*.*"]

    def _old_subject(self, call_id: str) -> str:
        return f"{self._names.dead_subject}.{records.key_for(call_id)}"

    def _subject(self, namespace: str, function: str) -> str:
        lane = self._names.lane("calls", namespace, function)
        if (namespace, function) != _UNDECODABLE and lane == self._names.subject:
            return ""  # not tokens: a subject of its own, as before
        return f"{self._names.dead_subject}.{namespace}.{function}"

    async def add(self, call_id: str, data: bytes, namespace: str, function: str) -> int:
        """Store the letter; its stream sequence, for the call's record."""
        subject = self._subject(namespace, function) or self._old_subject(call_id)
        ack = await self._pub.publish(subject, data, {CALL_ID: quote(call_id)})
        return int(ack["seq"])

    async def newest(self) -> AsyncIterator[tuple[str, int]]:
        """The call id and sequence of each letter still in the stream, newest first."""
        info = await self._js.stream_info(self._names.dead_stream)
        seq = info.state.last_seq
        while seq >= max(info.state.first_seq, 1):
            try:
                msg = await self._js.get_msg(self._names.dead_stream, seq=seq)
            except nats.js.errors.NotFoundError:
                msg = None  # replayed or purged: a gap
            if msg is not None:
                call_id = self._call_id(msg.headers, msg.data)
                if call_id is not None:
                    yield call_id, seq
            seq -= 1

    def _call_id(self, headers: dict[str, str] | None, data: bytes | None) -> str | None:
        named = (headers or {}).get(CALL_ID)
        if named:
            return unquote(str(named))
        call = decode_call(data)
        return None if call is None else call.call_id

    async def take(self, call_id: str, dseq: int) -> tuple[bytes, int] | None:
        """The message of the letter ``call_id`` and its sequence, or None if there is none."""
        try:
            if dseq:
                msg = await self._js.get_msg(self._names.dead_stream, seq=dseq)
                if self._call_id(msg.headers, msg.data) != call_id:
                    return None
            else:
                msg = await self._js.get_last_msg(
                    self._names.dead_stream, self._old_subject(call_id)
                )
        except nats.js.errors.NotFoundError:
            return None
        return msg.data or b"", msg.seq or 0

    async def remove(self, call_id: str, dseq: int) -> None:
        if dseq:
            await delete_if_there(self._js, self._names.dead_stream, dseq)
        await self._js.purge_stream(self._names.dead_stream, subject=self._old_subject(call_id))

    async def counts(self) -> tuple[int, dict[str, int]]:
        """All letters, and per function (``name.namespace``) those on a function's subject.

        One request; its answer lists each function's subject, not each letter.
        """
        prefix = self._names.dead_subject + "."
        info = await self._js.stream_info(self._names.dead_stream, subjects_filter=prefix + "*.*")
        per: dict[str, int] = {}
        for subject, count in (info.state.subjects or {}).items():
            namespace, function = subject[len(prefix) :].split(".", 1)
            if (namespace, function) == CALLBACK_LANE:
                per[CALLBACKS] = count
            elif (namespace, function) != _UNDECODABLE:
                per[f"{function}.{namespace}"] = count
        return info.state.messages, per

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
            dseq = await self.add(call_id, msg.data, *_UNDECODABLE)
            await records.write(self._pub, self._names.bucket, record, records.Extras(dseq=dseq))
            await self._pub.request(msg.reply, b"")  # acked: gone from the calls stream
        except nats.errors.Error:
            pass
