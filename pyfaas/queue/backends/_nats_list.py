"""Listing a NATS queue's calls: its record bucket read back from the newest write.

The records live in a KV bucket, a stream keeping one message per key (the
record's last write, ``history=1``), so the stream's sequences are the
records in the order they were last written, with gaps where a record was
written again or removed. A page reads the stream backwards by sequence, in
windows that double from a little over the page, each window's messages
fetched together (a ``get_msg`` each, concurrently: nats-server 2.9 has no
batched direct get), and keeps the records the filter picks, newest first.
The cursor is the sequence a page stopped at.

A page reads at most ``SCAN`` sequences, whatever the filter: a filter
that matches few records answers a short page (even an empty one) with a
cursor to go on from, so that no request reads the whole bucket.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import nats.js.errors

from pyfaas.queue._records import as_of
from pyfaas.queue.backends import _nats_records as records
from pyfaas.queue.backends._listing import is_callback, page_size, picks, position
from pyfaas.queue.base import CallFilter, CallPage
from pyfaas.queue.envelope import CallRecord

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from pyfaas.queue.backends.nats import NatsQueue

# Sequences one page reads at most, and the widest window fetched at once.
SCAN = 2048
WIDEST = 512


async def _get(js: JetStreamContext, stream: str, seq: int) -> CallRecord | None:
    """The record last written at ``seq``, or None for a gap, a delete or a purge."""
    try:
        msg = await js.get_msg(stream, seq)
    except nats.js.errors.NotFoundError:
        return None
    if not msg.data or (msg.headers or {}).get("KV-Operation"):
        return None
    return records.decode(msg.data)


async def calls(queue: NatsQueue, where: CallFilter, limit: int) -> CallPage:
    """Newest write first; see the module's docstring for the cursor and the bound."""
    js = queue.parts()[0]
    stream = f"KV_{queue.names.bucket}"
    size, before = page_size(limit), position(where)
    state = (await js.stream_info(stream)).state
    first = max(state.first_seq, 1)
    end = state.last_seq + 1 if before is None else min(before, state.last_seq + 1)
    found: list[tuple[int, CallRecord]] = []
    window, scanned = min(max(2 * size, 64), WIDEST), 0
    while end > first and scanned < SCAN and len(found) <= size:
        start = max(first, end - window, end - (SCAN - scanned))
        seqs = range(end - 1, start - 1, -1)
        got = await asyncio.gather(*(_get(js, stream, seq) for seq in seqs))
        now = time.time()
        for seq, record in zip(seqs, got, strict=True):
            if record is None or is_callback(record.call_id):
                continue
            shown = as_of(record, now)
            if picks(shown, where):
                found.append((seq, shown))
        scanned += end - start
        end, window = start, min(window * 2, WIDEST)
    if len(found) > size:
        return CallPage(tuple(r for _, r in found[:size]), str(found[size - 1][0]))
    return CallPage(tuple(r for _, r in found), str(end) if end > first else None)
