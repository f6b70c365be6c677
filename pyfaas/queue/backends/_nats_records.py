"""Call records as JetStream KV entries: the key for a call id, the JSON value, a create."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import nats.js.errors

from pyfaas.queue import _json
from pyfaas.queue.backends._nats_publish import Publisher
from pyfaas.queue.envelope import CallRecord, CallState

_KV_KEY = re.compile(r"^[-_=a-zA-Z0-9]{1,200}$")
# JetStream's "wrong last sequence" error codes: the record already exists.
WRONG_LAST_SEQUENCE = (10071, 10164)


def key_for(call_id: str) -> str:
    """A KV key (and subject token) for ``call_id``; ids with other characters are hashed."""
    if _KV_KEY.match(call_id):
        return call_id
    return "h-" + hashlib.sha256(call_id.encode()).hexdigest()


def encode(record: CallRecord) -> bytes:
    # A shallow copy: every field is a scalar, and dataclasses.asdict's deep
    # copy took a tenth of the gateway's time per accepted call.
    fields = dict(vars(record))
    fields["state"] = record.state.value
    return _json.dumps(fields)


def decode(data: bytes) -> CallRecord:
    fields: dict[str, Any] = _json.loads(data)
    fields["state"] = CallState(fields["state"])
    return CallRecord(**fields)


async def create(pub: Publisher, bucket: str, record: CallRecord) -> bool:
    """Write ``record`` unless its call has one already; whether it was written."""
    try:
        await pub.publish(
            f"$KV.{bucket}.{key_for(record.call_id)}",
            encode(record),
            {"Nats-Expected-Last-Subject-Sequence": "0"},  # create, never overwrite
        )
    except nats.js.errors.APIError as exc:
        if exc.err_code not in WRONG_LAST_SEQUENCE:
            raise
        return False
    return True
