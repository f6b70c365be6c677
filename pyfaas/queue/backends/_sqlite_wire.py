"""The frames between the SQLite queue and its writer process, both ways.

Frames, parent to child: ``u32 length + marshal((op, *arguments))``
(marshal, because it costs the sender a microsecond and both ends run the
same interpreter), ``op`` being one of the operation codes here. A put
travels as the row it is stored as, and claimed calls come back as their
stored payloads and call ids: encoding and decoding a call stay with the
callers, outside the commit cycle every waiting caller shares.

Answers, child to parent, one per frame and in order: ``1`` stored, ``0``
already stored (the call id is known), ``-`` done, ``V`` with ``u32 length +
marshal(value)`` (claims, counts), or ``N`` (lease lost, no such dead letter
or call), ``C`` (a conflict: a call id taken by another call, a cancel of a
call that started) and ``E`` (the transaction failed) with ``u16 length``
and a UTF-8 message.
"""

from __future__ import annotations

import marshal
import struct
from typing import Any

from pyfaas.queue.envelope import Outcome, StoredResult

LENGTH = struct.Struct(">I")
MESSAGE = struct.Struct(">H")
STORED, KNOWN, DONE, VALUE, LOST, FAILED = b"1", b"0", b"-", b"V", b"N", b"E"
CONFLICT = b"C"

# Operation codes, the first item of every frame.
PUT, CLAIM, EXTEND, SETTLE, MARK_RUNNING, REPLAY = range(6)
CANCEL, REPLAY_WHERE, PURGE, PRUNE = range(6, 10)
# A batch holding one commits with synchronous=FULL: its answer promises a call
# runs (put, replay) or never runs (cancel). A purge or prune lost to a power
# cut leaves records that the next one removes.
DURABLE = frozenset({PUT, REPLAY, CANCEL, REPLAY_WHERE})

NOTHING_CLAIMED = VALUE + LENGTH.pack(len(marshal.dumps([]))) + marshal.dumps([])


def frames(buffer: bytes) -> tuple[list[tuple[Any, ...]], bytes]:
    """The operations whole in ``buffer``, and what is left of it."""
    ops: list[tuple[Any, ...]] = []
    at = 0
    while len(buffer) - at >= LENGTH.size:
        (size,) = LENGTH.unpack_from(buffer, at)
        end = at + LENGTH.size + size
        if len(buffer) < end:
            break
        ops.append(marshal.loads(buffer[at + LENGTH.size : end]))
        at = end
    return ops, buffer[at:]


def message(kind: bytes, text: str) -> bytes:
    """An answer carrying a message: ``kind``, its length, at most 1000 bytes of it."""
    data = text.encode()[:1000]
    return kind + MESSAGE.pack(len(data)) + data


def failed(text: str) -> bytes:
    return message(FAILED, text)


# An outcome as it travels: the fields of ``Outcome`` in its order, the result
# as (status, headers, body, truncated, size).
OutcomeFields = tuple[Any, ...]


def outcome_fields(outcome: Outcome) -> OutcomeFields:
    """The outcome's fields in the order ``Outcome`` takes them; ``outcome_of`` reads them."""
    result = outcome.result
    return (
        outcome.status_code,
        outcome.error,
        outcome.callback_status,
        outcome.callback_attempts,
        outcome.started_at,
        outcome.finished_at,
        None
        if result is None
        else (result.status, result.headers, result.body, result.truncated, result.size),
        outcome.reason,
    )


def outcome_of(fields: tuple[Any, ...]) -> Outcome:
    """The ``Outcome`` that ``outcome_fields`` wrote (marshal makes lists of its tuples)."""
    status_code, error, callback_status, callback_attempts, started, finished = fields[:6]
    result, reason = fields[6:]
    stored = None
    if result is not None:
        status, headers, body, truncated, size = result
        stored = StoredResult(status, [(k, v) for k, v in headers], body, truncated, size)
    return Outcome(
        status_code, error, callback_status, callback_attempts, started, finished, stored, reason
    )
