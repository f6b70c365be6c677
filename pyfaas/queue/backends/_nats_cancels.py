"""Cancel marks: how a claim and a cancel of a call's first delivery agree without a lock each.

A call's first delivery on its calls lane runs without taking its run lock
(``_nats_locks``): one KV write a call less. A cancel orders itself against
such claims in two steps, and a claim against cancels in one look per batch:

* the cancel first stores a mark for the call (stream ``PYFAAS_CANCELS``,
  one subject per call), then asks the lane's consumer whether it has
  delivered the call's message yet (its delivered stream sequence is past
  the message's): if so a worker has the call, and the cancel is a
  ``Conflict``; if not, the cancel takes the run lock for good as before;
* a claim, after its messages arrived, looks at the marks once (the marks
  stream's last sequence, and the marked calls only when it moved): a
  first delivery of a marked call takes the run lock as before, the others
  run at once.

Whichever looks last sees the other: a claim that saw no mark got its
message before the mark was stored, so the cancel, looking after storing
it, finds the message delivered and gives way; a cancel that found the
message not delivered stored its mark before any claim could see the
message, so that claim sees the mark and the run lock decides between the
two. A mark is kept a day (``MARK_AGE``, in ``_nats_layout``), far beyond
the moment between a claim's messages arriving and its look.
"""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext

from pyfaas.queue import _json
from pyfaas.queue.backends._nats_layout import NatsNames
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.backends._nats_records import key_for


class CancelMarks:
    """The cancel marks of one queue, and what this process last saw of them."""

    def __init__(self, js: JetStreamContext, pub: Publisher, names: NatsNames) -> None:
        self._js = js
        self._pub = pub
        self._names = names
        self._seen_seq = -1  # the marks stream's last sequence at the last look
        self._marked: frozenset[str] = frozenset()  # keys of the calls marked then

    def subject(self, call_id: str) -> str:
        return f"{self._names.cancel_subject}.{key_for(call_id)}"

    async def mark(self, call_id: str) -> None:
        """Store the mark of a cancel of ``call_id``, before it looks at the consumer."""
        await self._pub.publish(self.subject(call_id), b"")

    async def marked(self) -> frozenset[str]:
        """The keys (``key_for``) of the calls marked as of now: one small request.

        The marks themselves are read only when the stream's last sequence
        moved since the last look (a cancel came): rarely.
        """
        stream = self._names.cancel_stream
        reply = await self._pub.request(f"$JS.API.STREAM.INFO.{stream}", b"")
        info = _json.loads(reply.data)
        if "error" in info:
            nats.js.errors.APIError.from_error(info["error"])  # raises
        last = int(info["state"]["last_seq"])
        if last != self._seen_seq:
            found = await self._js.stream_info(stream, subjects_filter=">")
            prefix = self._names.cancel_subject + "."
            subjects = found.state.subjects or {}
            self._marked = frozenset(s[len(prefix) :] for s in subjects if s.startswith(prefix))
            self._seen_seq = last
        return self._marked

    async def delivered(self, seq: int) -> bool:
        """Whether message ``seq`` of the calls stream was delivered (at least once) or is gone."""
        try:
            msg = await self._js.get_msg(self._names.stream, seq=seq)
        except nats.js.errors.NotFoundError:
            return True  # acked: its call ran
        try:
            info = await self._js.consumer_info(
                self._names.stream, self._names.consumer_for(msg.subject or "")
            )
        except nats.js.errors.NotFoundError:
            return False  # no worker has asked for that lane yet
        return info.delivered is not None and (info.delivered.stream_seq or 0) >= seq
