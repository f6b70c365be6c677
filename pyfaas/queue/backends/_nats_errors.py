"""What a NATS failure means for the queue's caller, said once for every operation.

nats-py's errors stop here: an operation that failed raises
``QueueUnavailable`` (nothing was stored, or the caller may try again), and a
put that cannot tell whether its call was stored raises ``QueueUncertain``
with the call id to submit it again with. The client reconnects on its own,
so its error and connection events are only passed over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from pyfaas.errors import QueueUnavailable, QueueUncertain
from pyfaas.queue.envelope import QueuedCall


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def unavailable(url: str, exc: BaseException) -> QueueUnavailable:
    return QueueUnavailable(f"nats queue {url}: {describe(exc)}")


def uncertain(url: str, call: QueuedCall, exc: BaseException) -> QueueUncertain:
    return QueueUncertain(
        f"nats queue {url}: call {call.call_id} may be stored"
        f" but was not confirmed: {describe(exc)}",
        call.call_id,
    )


async def ignore(exc: Exception) -> None:
    """The client reconnects on its own; failing calls raise ``QueueUnavailable``."""


async def ignore_event() -> None:
    pass


@contextlib.contextmanager
def translated(url: str) -> Iterator[None]:
    """Raise a NATS failure within as ``QueueUnavailable``."""
    try:
        yield
    except nats.errors.Error as exc:
        raise unavailable(url, exc) from exc


# JetStream's "no message found": what deleting a message already gone answers.
_NO_MESSAGE = 10057


async def delete_if_there(js: JetStreamContext, stream: str, seq: int) -> bool:
    """Delete message ``seq`` of ``stream``; False if it was gone already (acked, deleted)."""
    try:
        await js.delete_msg(stream, seq)
    except nats.js.errors.APIError as exc:
        if isinstance(exc, nats.js.errors.NotFoundError) or exc.err_code == _NO_MESSAGE:
            return False
        raise
    return True
