"""Call records as JetStream KV entries: the key for a call id, the JSON value, writes.

A record's value is the ``CallRecord``'s fields, its ``history`` as
``Attempt`` JSON, and beside them what only the NATS queue needs
(``Extras``): the stream sequence of the call's message (``seq``, so that a
cancel deletes it; a retry's, a put's being found by ``_nats_seqs``), of its
dead letter (``dseq``), and the function's answer when it fits (``res``;
``resobj`` when it went to the object store).
Readers that want the ``CallRecord`` alone take ``decode``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import nats.js.errors
from nats.aio.msg import Msg

from pyfaas.queue import _json
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.envelope import Attempt, CallRecord, CallState, StoredResult

_KV_KEY = re.compile(r"^[-_=a-zA-Z0-9]{1,200}$")
# JetStream's "wrong last sequence" error codes: the record already exists.
WRONG_LAST_SEQUENCE = (10071, 10164)
_EXTRAS = ("seq", "dseq", "res", "resobj")


@dataclass
class Extras:
    """What a NATS record holds beside the ``CallRecord``."""

    seq: int = 0  # the call's message in the calls stream; 0: none known
    dseq: int = 0  # its dead letter in the dead stream; 0: none
    result: StoredResult | None = None  # kept in the record itself
    in_objects: bool = False  # kept in the object store instead
    revision: int = 0  # the entry's KV revision, when read
    fields: dict[str, Any] = field(default_factory=dict)


def key_for(call_id: str) -> str:
    """A KV key (and subject token) for ``call_id``; ids with other characters are hashed."""
    if _KV_KEY.match(call_id):
        return call_id
    return "h-" + hashlib.sha256(call_id.encode()).hexdigest()


def encode(record: CallRecord, extras: Extras | None = None) -> bytes:
    # A shallow copy: every field but the history is a scalar, and
    # dataclasses.asdict's deep copy took a tenth of the gateway's time per call.
    fields = dict(vars(record))
    fields["state"] = record.state.value
    fields["history"] = [a.to_json() for a in record.history]
    if extras is not None:
        if extras.seq:
            fields["seq"] = extras.seq
        if extras.dseq:
            fields["dseq"] = extras.dseq
        if extras.result is not None:
            fields["res"] = extras.result.to_json()
        if extras.in_objects:
            fields["resobj"] = True
    return _json.dumps(fields)


def decode(data: bytes) -> CallRecord:
    return decode_full(data)[0]


def decode_full(data: bytes, revision: int = 0) -> tuple[CallRecord, Extras]:
    fields: dict[str, Any] = _json.loads(data)
    raw = {name: fields.pop(name) for name in _EXTRAS if name in fields}
    fields["state"] = CallState(fields["state"])
    fields["history"] = [Attempt.from_json(a) for a in fields.get("history") or []]
    result = raw.get("res")
    extras = Extras(
        seq=int(raw.get("seq", 0)),
        dseq=int(raw.get("dseq", 0)),
        result=None if result is None else StoredResult.from_json(result),
        in_objects=bool(raw.get("resobj", False)),
        revision=revision,
    )
    return CallRecord(**fields), extras


# The header a create sends: written only if the call has no record yet.
CREATE = {"Nats-Expected-Last-Subject-Sequence": "0"}


def subject_for(bucket: str, call_id: str) -> str:
    """The KV subject a record of ``call_id`` is written to."""
    return f"$KV.{bucket}.{key_for(call_id)}"


def created(reply: Msg) -> int:
    """The revision a create's reply gives the record; 0 if the call had one already."""
    try:
        ack = Publisher.ack_of(reply)
    except nats.js.errors.APIError as exc:
        if exc.err_code not in WRONG_LAST_SEQUENCE:
            raise
        return 0
    return int(ack["seq"])


async def create(
    pub: Publisher, bucket: str, record: CallRecord, extras: Extras | None = None
) -> bool:
    """Write ``record`` unless its call has one already; whether it was written."""
    return await write(pub, bucket, record, extras, expect=0)


async def write(
    pub: Publisher,
    bucket: str,
    record: CallRecord,
    extras: Extras | None = None,
    expect: int | None = None,
    data: bytes | None = None,
) -> bool:
    """Write ``record``; with ``expect``, only over that revision (0: none). Whether written.

    ``data``: the record and ``extras`` encoded already.
    """
    headers = None if expect is None else {"Nats-Expected-Last-Subject-Sequence": str(expect)}
    if data is None:
        data = encode(record, extras)
    try:
        await pub.publish(f"$KV.{bucket}.{key_for(record.call_id)}", data, headers)
    except nats.js.errors.APIError as exc:
        if exc.err_code not in WRONG_LAST_SEQUENCE:
            raise
        return False
    return True


async def write_then_ack(
    pub: Publisher,
    bucket: str,
    record: CallRecord,
    extras: Extras | None,
    reply: str,
    data: bytes | None = None,
) -> None:
    """Write ``record`` and ack the delivery whose reply subject is ``reply``, in one flush.

    The ack asks for no reply, and only the write's is waited for: the
    server reads a connection's messages in order and stores a client's
    publish as it reads it, so the record is stored before the ack is seen,
    and a record the write's reply says is stored is of a call acked or
    about to be. An ack lost on the way brings the call back, and the claim
    that gets it drops it, its record being final (``_nats_claims``).
    ``data``: the record and ``extras`` encoded already.
    """
    subject = f"$KV.{bucket}.{key_for(record.call_id)}"
    # Sent later: the settles of the next moments go out in the same write.
    waiter = await pub.send(subject, encode(record, extras) if data is None else data, later=True)
    await pub.post(reply, b"", later=True)
    pub.ack_of(await waiter)
