"""The queue interface, with its contract in the docstrings.

Backends: ``memory`` (a real in-process twin for fast tests), ``sqlite``
(embedded, the default; a file under the state directory) and ``nats``
(JetStream through nats-py). The same contract suite runs against all three.

Contract:

* ``put`` returns only once the call is durably stored (for ``memory``: once
  it is in the structure). A second ``put`` with the same call id stores
  nothing and returns ``False``. If the call cannot be stored it raises
  ``QueueUnavailable``; the gateway then answers 503, never a false 202.
* ``claim`` hands out up to ``limit`` calls, oldest first, each under a lease
  of ``lease`` seconds, waiting up to ``wait`` seconds for the first one.
  A call whose lease runs out (its worker died) is handed out again with
  ``attempt`` increased. ``extend`` renews a lease; it raises ``NotFound``
  if the lease was lost. JetStream keeps one lease length per consumer, so
  workers sharing a queue use one ``lease`` (the worker's ``ack_wait``).
* ``ack`` settles a delivery for good (success or final failure) and records
  the outcome; ``retry`` puts it back to be claimed again after ``delay``
  seconds; ``bury`` moves it to the dead letters. Each of them settles a
  delivery once; settling a lost lease raises ``NotFound``.
* ``record`` answers what happened to a call; ``dead_letters`` lists buried
  calls, newest first; ``replay`` queues a dead letter again (``NotFound``
  if there is none by that id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pyfaas.queue.envelope import CallRecord, Delivery, Outcome, QueuedCall


@dataclass(frozen=True)
class QueueStats:
    queued: int
    running: int
    dead: int


class Queue(Protocol):
    async def start(self) -> None:
        """Connect, create tables or streams and consumers; idempotent."""

    async def close(self) -> None: ...

    async def put(self, call: QueuedCall) -> bool: ...

    async def claim(self, limit: int, lease: float, wait: float) -> list[Delivery]: ...

    async def extend(self, delivery: Delivery, lease: float) -> None: ...

    async def ack(self, delivery: Delivery, outcome: Outcome) -> None: ...

    async def retry(self, delivery: Delivery, delay: float, outcome: Outcome) -> None: ...

    async def bury(self, delivery: Delivery, outcome: Outcome) -> None: ...

    async def mark_running(self, delivery: Delivery) -> None:
        """Record that the worker started the call (state ``running``)."""

    async def record(self, call_id: str) -> CallRecord | None: ...

    async def dead_letters(self, limit: int = 100) -> list[CallRecord]: ...

    async def replay(self, call_id: str) -> None: ...

    async def stats(self) -> QueueStats: ...
