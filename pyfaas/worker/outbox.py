"""The callback outbox: callback deliveries, each posted once per claim in slots of their own.

The callback hook queues a call's callback as a delivery of its own
(``callbacks.answer_call``) before the call is settled, so the call's
result is recorded as soon as the function has answered, and a receiver
that is slow, or never answers, holds no function slot. The loop runs these
deliveries in ``callback_max_inflight`` slots; each claim posts once, within
``callback_timeout``. A post that fails and may be tried again goes back to
the queue with a backoff delay (the worker's retry waits, or the receiver's
``Retry-After``), so no slot is held while it waits; the ``callback_attempts``-th
claim is the last. Each claim counts as an attempt, one cut short by the
worker's death or shutdown included: a callback is posted at least once
(twice if the worker dies between the post and its settle) and never more
than ``callback_attempts`` times.

The delivery's record (``callback_id(call_id)``) carries the receiver's
status, the attempts and, when it failed for good, the error;
``envelope.with_callback`` folds it into the call's record.
"""

from __future__ import annotations

import random

from pyfaas.worker.callbacks import CallbackSender, Posted
from pyfaas.worker.context import CallContext, Settle
from pyfaas.worker.logs import EventLog
from pyfaas.worker.retries import RetryPolicy, backoff


class Outbox:
    def __init__(
        self,
        sender: CallbackSender,
        log: EventLog,
        *,
        attempts: int,
        policy: RetryPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._sender = sender
        self._log = log
        self._attempts = attempts
        self._policy = policy
        self._rng = rng or random.Random()

    async def deliver(self, ctx: CallContext) -> None:
        """Post ``ctx``'s callback once, and say how its delivery is to be settled."""
        delivery = ctx.call
        url = delivery.callback_url or ""
        attempt = ctx.delivery.attempt
        call_id = delivery.answer.call_id if delivery.answer else delivery.call_id
        ctx.invoked = True  # from here on the receiver may have had it
        posted = await self._sender.post(delivery)
        outcome = ctx.outcome
        outcome.status_code = outcome.callback_status = posted.status
        outcome.callback_attempts = attempt
        if posted.ok:
            assert posted.status is not None
            self._log.callback_posted(ctx.seq, call_id, url, posted.status, attempt)
        elif posted.retryable and attempt < self._attempts:
            ctx.settle, ctx.delay = Settle.RETRY, self._delay(posted, attempt)
            outcome.error = posted.error
            self._log.callback_retry(ctx.seq, call_id, url, posted.error, ctx.delay)
        else:
            outcome.error = f"callback failed: {posted.error}"
            self._log.callback_failed(ctx.seq, call_id, url, posted.error, attempt)

    def _delay(self, posted: Posted, attempt: int) -> float:
        if posted.retry_after is not None:
            return min(max(posted.retry_after, self._policy.min_wait), self._policy.max_wait)
        return backoff(self._policy, attempt, self._rng)
