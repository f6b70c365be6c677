"""Settling a delivery: its follow-up first, then ack, retry or bury; a lost lease; a hand-back.

A call's callback (``ctx.follow_up``) is put before the call is settled: a
worker dying in between runs the call again, and the second put of the same
id stores nothing, so the callback is queued once and posted at least once.
(A dead letter replayed after its callback was queued is deduplicated the
same way: its new run's callback is not queued, and the log says so.)
A settle the queue refuses is tried again ``SETTLE_TRIES`` times (0.1 s,
doubling up to 2 s: about 3 s in all, while the lease is kept); a worker
whose settles keep failing would only run calls whose results are lost, so
it ends (status 1) and ``pyfaas serve`` starts a fresh one. Calls never run
go back to the queue at once, without costing them anything but the attempt.

An ack or a bury carries the function's answer (``results.stored_result``,
cut at ``result_max_bytes``) for ``GET /system/calls/{id}/result``, and a
bury its reason (``ctx.reason``): "retries exhausted", "not retryable:
500", "function removed" (``retries``), "expired" (waited in the worker
past its ``expire_at``), "hook failed" (before the call ran), "no callback
outbox". A retry stores no answer: the next attempt's replaces it.
"""

from __future__ import annotations

from pyfaas.errors import NotFound, PayloadTooLarge
from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import Delivery, Outcome
from pyfaas.worker.context import CallContext, Settle
from pyfaas.worker.logs import EventLog
from pyfaas.worker.results import RESULT_MAX_BYTES, stored_result
from pyfaas.worker.supervise import Supervisor

HANDED_BACK = "handed back: the worker shut down before the call ran"
# Bury reasons of the loop's own (``retries`` names the function's).
HOOK_FAILED = "hook failed"
NO_OUTBOX = "no callback outbox"
EXPIRED = "expired"  # as the queue's claim says of a call it sets aside
SETTLE_TRIES = 6


class Settler:
    def __init__(
        self,
        queue: Queue,
        sup: Supervisor,
        log: EventLog,
        *,
        result_max_bytes: int = RESULT_MAX_BYTES,
    ) -> None:
        self._queue = queue
        self._sup = sup
        self._log = log
        self._result_max = result_max_bytes

    async def settle(self, ctx: CallContext) -> bool:
        """Settle ``ctx``, again while the queue refuses; False (and the worker ends) if never."""
        if ctx.settle is not Settle.RETRY:
            outcome = ctx.outcome
            if ctx.result is not None:
                outcome.result = stored_result(ctx.result, self._result_max)
            if ctx.settle is Settle.BURY:
                outcome.reason = ctx.reason or outcome.error
        done = await self._sup.retrying(
            "settling", self._settle_once, ctx, tries=SETTLE_TRIES, call_id=ctx.call.call_id
        )
        if done is None:
            self._sup.fatal("settling", "the queue keeps refusing settles", ctx.call.call_id)
            return False
        return True

    async def _settle_once(self, ctx: CallContext) -> bool:
        if ctx.follow_up is not None:
            try:
                if not await self._queue.put(ctx.follow_up):
                    self._log.callback_queued_before(ctx.seq, ctx.call.call_id)
            except PayloadTooLarge as exc:
                ctx.outcome.error = joined(ctx.outcome.error, f"callback not queued: {exc}")
            ctx.follow_up = None
        try:
            if ctx.settle is Settle.RETRY:
                await self._queue.retry(ctx.delivery, ctx.delay, ctx.outcome)
            elif ctx.settle is Settle.BURY:
                await self._queue.bury(ctx.delivery, ctx.outcome)
            else:
                await self._queue.ack(ctx.delivery, ctx.outcome)
        except NotFound:
            ctx.lease_lost = True
            self._log.lease_lost(ctx.seq, ctx.call.call_id)
        ctx.settled = True
        return True

    async def interrupted(self, ctx: CallContext) -> None:
        """Shutdown cut this call short: hand it back, or settle what already ran."""
        if ctx.settled:
            return
        if ctx.result is None:  # not answered (a callback: posted again later)
            await self.give_back(ctx.delivery, ctx.seq)
            ctx.settled = True
            return
        # The function ran: running it again would duplicate its effects.
        await self.settle(ctx)

    async def give_back(self, delivery: Delivery, seq: int = 0) -> None:
        """Hand a call that never ran back to the queue; a failure is only logged."""
        call_id = delivery.call.call_id
        await self._sup.once("handing a call back", self._hand_back, delivery, seq, call_id=call_id)

    async def _hand_back(self, delivery: Delivery, seq: int) -> None:
        try:
            await self._queue.retry(delivery, 0.0, Outcome(error=HANDED_BACK))
        except NotFound:
            self._log.lease_lost(seq, delivery.call.call_id)
            return
        self._log.handed_back(seq, delivery.call.function_ref, delivery.call.call_id)


def joined(first: str | None, then: str) -> str:
    """Two errors in one line, or the second alone."""
    return then if not first else f"{first}; {then}"
