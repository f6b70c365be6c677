"""The hooks the worker runs around each call: logging, retries, callbacks.

Order matters and is fixed by ``app.build_hooks``: logging first (so it sees
the call as received), then retries (which decide retry, bury or ack), then
callbacks (queued only once the call is final, whatever its status, and
posted from the outbox: ``pyfaas.worker.outbox``).
"""

from __future__ import annotations

import random
import time

from pyfaas.queue.base import Queue
from pyfaas.worker.callbacks import answer_call, check_url
from pyfaas.worker.context import CallContext, Hook, Settle
from pyfaas.worker.invoke import GatewayClient
from pyfaas.worker.logs import EventLog
from pyfaas.worker.retries import PolicyCache, decide


class LoggingHook(Hook):
    def __init__(self, log: EventLog, gateway: GatewayClient, queue: Queue) -> None:
        self._log = log
        self._gateway = gateway
        self._queue = queue

    async def before_invoke(self, ctx: CallContext) -> None:
        # A first attempt is named by its one ``Invoked`` line (``logs``).
        if ctx.delivery.attempt > 1 or self._log.print_body:
            self._log.received(ctx.seq, ctx.delivery)
        if ctx.delivery.attempt > 1:
            record = await self._queue.record(ctx.call.call_id)
            # A retried or handed-back call carries the outcome its worker
            # reported; none at all means that worker vanished and its lease ran out.
            if record is not None and record.status_code is None and record.error is None:
                self._log.redelivered(ctx.seq, ctx.delivery)

    async def after_invoke(self, ctx: CallContext) -> None:
        result = ctx.result
        assert result is not None
        ref = ctx.call.function_ref
        if result.error is not None:
            self._log.invoke_error(ctx.seq, ref, result.error)
        self._log.invoked(ctx.seq, ref, result.status, result.seconds, result.body, ctx.delivery)

    async def after_settle(self, ctx: CallContext) -> None:
        if ctx.lease_lost:
            return
        ref = ctx.call.function_ref
        if ctx.settle is Settle.RETRY:
            attempts = ctx.policy.attempts if ctx.policy else 0
            self._log.retrying(ctx.seq, ref, ctx.delay, ctx.delivery.attempt + 1, attempts)
        elif ctx.settle is Settle.BURY:
            why, error = ctx.reason, ctx.outcome.error
            if error and error != why:  # the reason is the category, the error the detail
                why = f"{why} ({error})"
            self._log.dead_lettered(ctx.seq, ref, ctx.call.call_id, why)


class RetryHook(Hook):
    """Reads the function's policy, caps its concurrency, decides retry or final."""

    def __init__(self, policies: PolicyCache, rng: random.Random | None = None) -> None:
        self._policies = policies
        self._rng = rng or random.Random()

    async def before_invoke(self, ctx: CallContext) -> None:
        ctx.policy = await self._policies.get(ctx.call.function, ctx.call.namespace)

    async def after_invoke(self, ctx: CallContext) -> None:
        result = ctx.result
        assert result is not None
        policy = ctx.policy or self._policies.default
        decision = decide(
            policy, result.status, ctx.delivery.attempt, result.header("Retry-After"), self._rng
        )
        ctx.reason = decision.reason
        if decision.retry:
            ctx.settle, ctx.delay = Settle.RETRY, decision.delay
        elif not result.ok:
            ctx.settle = Settle.BURY
            ctx.outcome.error = result.error or decision.detail


class CallbackHook(Hook):
    """Queues the final result for the call's callback URL, or records why it cannot be."""

    def __init__(self, log: EventLog) -> None:
        self._log = log

    async def after_invoke(self, ctx: CallContext) -> None:
        url = callback_url(ctx)
        if not url or ctx.settle is Settle.RETRY or ctx.result is None:
            return
        problem = check_url(url)
        if problem:
            self._log.callback_refused(ctx.seq, url, problem)
            if ctx.outcome.error is None:
                ctx.outcome.error = f"callback failed: refused: {problem}"
            return
        seconds = time.monotonic() - ctx.received
        ctx.follow_up = answer_call(ctx.call, ctx.result, seconds, url)


def callback_url(ctx: CallContext) -> str | None:
    """The call's callback URL; older envelopes carry it only as a header."""
    if ctx.call.callback_url:
        return ctx.call.callback_url
    for key, value in ctx.call.headers:
        if key.lower() == "x-callback-url" and value:
            return value
    return None
