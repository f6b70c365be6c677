"""Keeping the leases of the calls a worker holds: every third of ``ack_wait``, for ever.

A call is held from its claim to its settle: waiting for a slot, running,
or settling (a settle the queue refuses is tried again under the same
lease). A lease the queue says is lost is marked, so the call's settle is
known to be moot; any other failure to extend is logged with the call's id
and tried again the next round, before the lease runs out. The keeper's own
rounds go through the supervisor: a round that breaks is logged and the
next one runs, so no long call is ever handed to a second worker because
the keeper died.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from pyfaas.errors import NotFound
from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import Delivery
from pyfaas.worker.context import CallContext
from pyfaas.worker.logs import EventLog
from pyfaas.worker.ready import Ready
from pyfaas.worker.supervise import Supervisor

# (the queues of calls claimed ahead, the contexts of calls running or settling)
Held = Callable[[], tuple[Iterable[Ready], Iterable[CallContext]]]


class LeaseKeeper:
    def __init__(
        self, queue: Queue, lease: float, held: Held, sup: Supervisor, log: EventLog
    ) -> None:
        self._queue = queue
        self._lease = lease
        self._held = held
        self._sup = sup
        self._log = log

    async def run(self) -> None:
        period = self._lease / 3
        while True:
            await asyncio.sleep(period)
            await self._sup.once("keeping leases", self.keep_round)

    async def keep_round(self) -> None:
        waiting, contexts = self._held()
        for ready in waiting:
            for delivery in list(ready):
                if not await self._extend(delivery):
                    try:
                        ready.remove(delivery)
                    except ValueError:
                        continue  # started meanwhile: its own context knows
                    self._log.lease_lost(0, delivery.call.call_id)
        for ctx in list(contexts):
            if ctx.settled or ctx.lease_lost:
                continue
            if not await self._extend(ctx.delivery) and not ctx.settled:
                ctx.lease_lost = True
                self._log.lease_lost(ctx.seq, ctx.call.call_id)

    async def _extend(self, delivery: Delivery) -> bool:
        """Extend ``delivery``'s lease; False if it was lost (a failure is logged: next round)."""
        try:
            await self._queue.extend(delivery, self._lease)
        except NotFound:
            return False
        except Exception as exc:
            then = "trying again next round; past ack_wait another worker may run it"
            self._sup.report("extending a lease", exc, delivery.call.call_id, then)
        return True
