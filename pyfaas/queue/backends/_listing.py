"""What the backends' ``calls`` listings share: the filter's test and the cursor's reading.

Every backend's cursor is a position in its own storage written as a
decimal number (the memory twin's put sequence, SQLite's row id, NATS's
stream sequence of a record's last write); what a client sends back as
``before`` is read here, once, so a cursor no backend made is the same
``BadRequest`` everywhere.
"""

from __future__ import annotations

from pyfaas.errors import BadRequest
from pyfaas.queue.base import MAX_PAGE, CallFilter
from pyfaas.queue.envelope import CALLBACK_SUFFIX, CallRecord


def picks(record: CallRecord, where: CallFilter) -> bool:
    """Whether ``record`` (as it reads now) is one ``where`` lists."""
    return (
        (where.function is None or record.function == where.function)
        and (where.namespace is None or record.namespace == where.namespace)
        and (where.state is None or record.state is where.state)
    )


def is_callback(call_id: str) -> bool:
    """Whether ``call_id`` names a callback delivery, which ``calls`` leaves out."""
    return call_id.endswith(CALLBACK_SUFFIX)


def position(where: CallFilter) -> int | None:
    """The position ``where.before`` names, or None to start at the newest."""
    if where.before is None:
        return None
    if not where.before.isdigit() or len(where.before) > 19:
        raise BadRequest(f"invalid cursor {where.before!r}: pass a page's next value as it is")
    return int(where.before)


def page_size(limit: int) -> int:
    """``limit`` within 1 and ``MAX_PAGE``."""
    return max(1, min(limit, MAX_PAGE))
