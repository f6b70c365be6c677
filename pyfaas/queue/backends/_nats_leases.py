"""The leases this process holds on claimed NATS messages, and when each counts as lost.

JetStream has one ack wait per consumer, not per claim, so ``claim(lease=...)``
sets the ``ack_wait`` of every lane's consumer: every worker sharing a queue
should use the same lease. ``extend`` restarts the ack timer at the full ``ack_wait``, and
waits for the server to have it. JetStream takes an ack of a delivery whose
lease ran out, even once another worker holds the call again, and says
nothing: so a lease counts as lost here once it may have run out on the
server (``LEASE_MARGIN`` before), and settling it raises ``NotFound``
without writing the record or acking.
"""

from __future__ import annotations

import time

from nats.aio.msg import Msg

from pyfaas.errors import NotFound
from pyfaas.queue.envelope import Delivery

# A lease counts as lost this long before it may run out on the server (at
# most a tenth of it): the settle's record write and ack must get there first.
LEASE_MARGIN = 0.5


class Leases:
    """The consumer's ack wait, and the messages this process holds under it."""

    def __init__(self, ack_wait: float) -> None:
        self.ack_wait = ack_wait  # the consumer's: every claim's lease
        # token -> a message leased by this process, and when its lease counts as lost
        self.held: dict[str, tuple[Msg, float]] = {}

    def end(self, began: float) -> float:
        """When a lease the server began at ``began`` (or just after) counts as lost here."""
        return began + self.ack_wait - min(LEASE_MARGIN, self.ack_wait / 10)

    def take(self, delivery: Delivery, *, release: bool) -> tuple[Msg, float]:
        """The leased message and when its lease counts as lost; ``NotFound`` if it is."""
        token = delivery.token
        held = self.held.pop(token, None) if release else self.held.get(token)
        if held is None or time.monotonic() >= held[1]:
            self.held.pop(token, None)
            raise NotFound(f"lease on call {delivery.call.call_id} was lost")
        return held


def still_leased(delivery: Delivery, ends: float) -> None:
    """Before an ack: the record write may have taken the lease's last moments."""
    if time.monotonic() >= ends:
        raise NotFound(f"lease on call {delivery.call.call_id} was lost")
