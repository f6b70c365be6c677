"""Subscriptions whose messages are handled as nats-py reads them: no queue, no task between.

nats-py hands each message of a subscription with a callback to an
``asyncio.Queue`` that a task of the subscription's own empties, calling the
callback for each: a put, a task switch and a get per message, for every
publish's ack, every delivery's ack reply and every call a pull brings.
A subscription made with a ``future`` instead has each message given to the
future's ``set_result`` by the read loop itself, as it parses it (it is how
nats-py answered requests before its response mux). ``subscribe`` passes an
object that looks like such a future and hands every message to a plain
function, which must not block: the reply subscriptions of ``_nats_publish``
and ``_nats_pull`` only set futures and append to lists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription


class _Handler:
    """What nats-py takes for a request's future: ``cancelled`` and ``set_result``."""

    __slots__ = ("_handle",)

    def __init__(self, handle: Callable[[Msg], None]) -> None:
        self._handle = handle

    def cancelled(self) -> bool:
        return False

    def set_result(self, msg: Msg) -> None:
        try:
            self._handle(msg)
        except Exception as exc:  # never into the read loop: it would drop the connection
            asyncio.get_running_loop().call_exception_handler(
                {"message": "a NATS message handler failed", "exception": exc}
            )


async def subscribe(nc: Client, subject: str, handle: Callable[[Msg], None]) -> Subscription:
    """Subscribe to ``subject`` with ``handle`` called for each message as it is read."""
    return await nc.subscribe(subject, future=cast("asyncio.Future[Msg]", _Handler(handle)))
