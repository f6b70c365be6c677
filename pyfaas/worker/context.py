"""A call on its way through the worker: its context, the hooks around it, how it is settled.

``WorkerLoop`` makes one ``CallContext`` per delivery and hands it to each
hook step in turn (Dramatiq-style ``before_invoke``, ``after_invoke``,
``after_settle``); the hooks decide, through it, how the call is settled.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pyfaas.queue.envelope import Delivery, Outcome, QueuedCall
from pyfaas.worker.invoke import InvokeResult
from pyfaas.worker.retries import RetryPolicy

Handler = Callable[["CallContext"], Awaitable[None]]


class Settle(StrEnum):
    ACK = "ack"
    RETRY = "retry"
    BURY = "bury"


@dataclass
class CallContext:
    """One delivery on its way through the hooks."""

    seq: int
    delivery: Delivery
    received: float = field(default_factory=time.monotonic)
    policy: RetryPolicy | None = None
    result: InvokeResult | None = None
    settle: Settle = Settle.ACK
    delay: float = 0.0
    reason: str = ""
    outcome: Outcome = field(default_factory=Outcome)
    settled: bool = False
    lease_lost: bool = False
    invoked: bool = False  # the function (or the callback post) may have run: never again
    follow_up: QueuedCall | None = None  # put before the settle: the call's callback

    @property
    def call(self) -> QueuedCall:
        return self.delivery.call

    @property
    def limit(self) -> int | None:
        return self.policy.max_inflight if self.policy else None


class Hook:
    """Behaviour around an invocation; override the steps you need."""

    async def before_invoke(self, ctx: CallContext) -> None:
        """Runs before the call takes a function slot; a failure fails the call unrun."""

    async def after_invoke(self, ctx: CallContext) -> None:
        """Runs with ``ctx.result`` set; may change how the call is settled."""

    async def after_settle(self, ctx: CallContext) -> None:
        """Runs once the queue has taken the outcome (or the lease was lost)."""


def overriding(hooks: Sequence[Hook], step: str) -> list[Handler]:
    """The bound ``step`` of each hook that does something in it, in order."""
    base = getattr(Hook, step)
    return [getattr(hook, step) for hook in hooks if getattr(type(hook), step) is not base]
