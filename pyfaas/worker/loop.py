"""The worker loop: claim calls ahead of free slots, run each, settle it in the background.

The loop knows only the queue's lease protocol. It keeps up to
``max_inflight`` claimed calls waiting beside the ``max_inflight`` running
ones (their leases held and extended like the running ones'), so a freed
slot starts the next call at once instead of waiting for a claim to commit;
a second claim may be on its way while the first waits for its commit.
A finished call frees its slot as soon as its invocation and callback are
done; its settle (ack, retry or bury) commits in the background, batched
with others. A call is still settled only after it ran, and the times the
worker reports (start, finish) are its own, so calls run with
``max_inflight=1`` are recorded strictly one after another. What happens around an
invocation hangs off it as hooks, Dramatiq-style: ``before_invoke``,
``after_invoke`` (which decide retry, bury or ack, and post callbacks) and
``after_settle``. While a call runs its lease is extended every third of
``ack_wait``, so a long call is never handed to a second worker while this
one lives; if this one dies, the lease runs out and the call comes back.

A gateway that cannot even be connected to (restarting, or down) has not
run the function, so it costs the call none of its attempts: the worker
keeps the call and its lease and tries again with backoff until the gateway
answers. Otherwise a short gateway outage would send every queued call
through its attempts into the dead letters within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pyfaas.errors import NotFound, PyfaasError
from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import Delivery, Outcome, QueuedCall
from pyfaas.worker.invoke import InvokeResult
from pyfaas.worker.logs import EventLog
from pyfaas.worker.retries import RetryPolicy
from pyfaas.worker.slots import FunctionSlots

Invoke = Callable[[QueuedCall], Awaitable[InvokeResult]]
HANDED_BACK = "handed back: the worker shut down before the call ran"
# A second claim may go out while the first is still waiting for its commit,
# so that the calls claimed ahead do not run out between two claims.
CLAIMS_IN_FLIGHT = 2
# A claim takes about a millisecond to commit: while calls are this short,
# ``max_inflight`` calls claimed ahead would run out before it does, so the
# worker claims up to SHORT_CALLS_AHEAD ahead instead. Long calls keep the
# lower figure, so that several workers share a queue of them evenly.
SHORT_CALL = 0.05  # seconds, averaged over the recent calls
SHORT_CALLS_AHEAD = 16
# Short calls are topped up in batches of at least this many: one claim per
# finished call would cost the queue a transaction per call for claims alone.
SHORT_CALLS_BATCH = SHORT_CALLS_AHEAD // 2


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

    @property
    def call(self) -> QueuedCall:
        return self.delivery.call

    @property
    def limit(self) -> int | None:
        return self.policy.max_inflight if self.policy else None


class Hook:
    """Behaviour around an invocation; override the steps you need."""

    async def before_invoke(self, ctx: CallContext) -> None:
        """Runs before the call takes a function slot."""

    async def after_invoke(self, ctx: CallContext) -> None:
        """Runs with ``ctx.result`` set; may change how the call is settled."""

    async def after_settle(self, ctx: CallContext) -> None:
        """Runs once the queue has taken the outcome (or the lease was lost)."""


class WorkerLoop:
    def __init__(
        self,
        queue: Queue,
        invoke: Invoke,
        hooks: Sequence[Hook],
        log: EventLog,
        *,
        max_inflight: int,
        ack_wait: float,
        claim_wait: float = 1.0,
        reconnect_wait: tuple[float, float] = (0.1, 2.0),
    ) -> None:
        self._queue = queue
        self._invoke = invoke
        # Each step runs only the hooks that override it: most steps of most
        # hooks do nothing, and awaiting them would cost every call.
        self._before = _overriding(hooks, "before_invoke")
        self._after = _overriding(hooks, "after_invoke")
        self._settled = _overriding(hooks, "after_settle")
        self._log = log
        self._max = max_inflight
        self._lease = ack_wait
        self._claim_wait = claim_wait
        self._reconnect_wait = reconnect_wait  # first and longest wait for the gateway
        self._slots = FunctionSlots()
        self._running: dict[asyncio.Task[None], CallContext] = {}
        self._ready: deque[Delivery] = deque()  # claimed ahead, waiting for a slot
        self._settling: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._seq = 0
        self._claiming: set[asyncio.Task[None]] = set()  # claims in flight
        self._asked = 0  # calls asked for by the claims in flight
        self._recent = SHORT_CALL  # the recent calls' mean duration, in seconds
        self._keeper: asyncio.Task[None] | None = None

    @property
    def inflight(self) -> int:
        return len(self._running)

    def stop(self) -> None:
        """Stop claiming; calls already running carry on (see ``drain``)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Claim and dispatch until ``stop``; returns with calls possibly still running."""
        if self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_leases())
        try:
            while not self._stopping:
                self._start_ready()
                ahead, batch = self._max, 1
                if self._recent < SHORT_CALL:
                    ahead, batch = max(ahead, SHORT_CALLS_AHEAD), SHORT_CALLS_BATCH
                room = self._max + ahead - len(self._running) - len(self._ready) - self._asked
                if self._ready or self._asked:
                    room = room if room >= batch else 0  # still some ahead: wait for a batch
                if room <= 0 or len(self._claiming) >= CLAIMS_IN_FLIGHT:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._asked += room
                self._claiming.add(asyncio.create_task(self._claim_ahead(room)))
        finally:
            await asyncio.gather(*self._claiming, return_exceptions=True)

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for running calls, then hand the rest back.

        Leases stay extended while the calls finish; calls claimed ahead that
        never started go back to the queue.
        """
        if self._running:
            await asyncio.wait(list(self._running), timeout=grace)
        rest = list(self._running)
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        unrun, self._ready = list(self._ready), deque()
        await asyncio.gather(*(self._hand_back_unrun(d) for d in unrun))
        await asyncio.gather(*self._settling, return_exceptions=True)
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None

    def _start_ready(self) -> None:
        while self._ready and len(self._running) < self._max and not self._stopping:
            self._dispatch(self._ready.popleft())

    async def _claim_ahead(self, limit: int) -> None:
        # Counted out here, before the wake, so that run() sees the room it
        # made (a done-callback would run only after run() had looked).
        try:
            deliveries = await self._claim(limit)
        finally:
            self._claiming.discard(asyncio.current_task())
            self._asked -= limit
        self._ready.extend(deliveries)
        self._start_ready()
        self._wake.set()

    async def _claim(self, limit: int) -> list[Delivery]:
        try:
            deliveries = await self._queue.claim(limit, self._lease, self._claim_wait)
        except PyfaasError as exc:
            self._log.line(f"Cannot claim calls: {exc}; trying again in 1s")
            await self._pause(1.0)
            return []
        if self._stopping and deliveries:
            # Claimed while being told to stop: give them straight back.
            await asyncio.gather(*(self._hand_back_unrun(d) for d in deliveries))
            return []
        return deliveries

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _dispatch(self, delivery: Delivery) -> None:
        self._seq += 1
        ctx = CallContext(seq=self._seq, delivery=delivery)
        task = asyncio.create_task(self._run_one(ctx))
        self._running[task] = ctx
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not self._release(task):
            self._settling.discard(task)  # freed its slot before its settle

    def _free_slot(self) -> None:
        """The running call is done with its slot: the same task settles it meanwhile."""
        task = asyncio.current_task()
        if task is not None and self._release(task):
            self._settling.add(task)

    def _release(self, task: asyncio.Task[Any]) -> bool:
        """Free ``task``'s slot, if it still holds one; False if it did not."""
        if self._running.pop(task, None) is None:
            return False
        self._start_ready()  # the next call starts now, not when run() wakes
        self._wake.set()
        return True

    async def _run_one(self, ctx: CallContext) -> None:
        try:
            await self._handle(ctx)
        except asyncio.CancelledError:
            await self._interrupted(ctx)
        except Exception as exc:
            self._log.internal_error(ctx.seq, ctx.call.call_id, repr(exc))
            if not ctx.settled:
                ctx.settle, ctx.delay = Settle.RETRY, 1.0
                ctx.outcome.error = f"internal error: {exc!r}"
                await self._settle(ctx)

    async def _handle(self, ctx: CallContext) -> None:
        for before in self._before:
            await before(ctx)
        async with self._slots.hold(ctx.call.function_ref, ctx.limit):
            await self._queue.mark_running(ctx.delivery)
            ctx.outcome.started_at = time.time()
            ctx.result = await self._invoke_when_reachable(ctx)
        self._recent += (ctx.result.seconds - self._recent) / 8
        ctx.outcome.status_code = ctx.result.status
        ctx.outcome.error = ctx.result.error
        for after in self._after:
            await after(ctx)
        ctx.outcome.finished_at = time.time()
        # The call is done: its slot is free while the settle commits, in
        # this same task (one task fewer per call than a task per settle).
        self._free_slot()
        await self._settle_and_report(ctx)

    async def _settle_and_report(self, ctx: CallContext) -> None:
        try:
            await self._settle(ctx)
            for settled in self._settled:
                await settled(ctx)
        except Exception as exc:  # a queue in trouble: the lease runs out, the call comes back
            self._log.internal_error(ctx.seq, ctx.call.call_id, repr(exc))

    async def _invoke_when_reachable(self, ctx: CallContext) -> InvokeResult:
        """Invoke; while the gateway refuses connections, wait and try again.

        The lease stays extended meanwhile; shutdown cancels the wait and
        hands the call back unrun.
        """
        wait, longest = self._reconnect_wait
        result = await self._invoke(ctx.call)
        if not result.reached:
            self._log.gateway_unreachable(ctx.seq, ctx.call.function_ref, result.error or "")
        while not result.reached:
            await asyncio.sleep(wait)
            wait = min(wait * 2, longest)
            result = await self._invoke(ctx.call)
        return result

    async def _settle(self, ctx: CallContext) -> None:
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

    async def _interrupted(self, ctx: CallContext) -> None:
        """Shutdown cut this call short: hand it back, or settle what already ran."""
        if ctx.settled:
            return
        if ctx.result is None:
            await self._hand_back_unrun(ctx.delivery, ctx.seq)
            ctx.settled = True
            return
        # The function ran: running it again would duplicate its effects.
        if ctx.outcome.callback_status is None and ctx.call.callback_url:
            ctx.outcome.error = (ctx.outcome.error or "") + " callback interrupted by shutdown"
        await self._settle(ctx)

    async def _hand_back_unrun(self, delivery: Delivery, seq: int = 0) -> None:
        try:
            await self._queue.retry(delivery, 0.0, Outcome(error=HANDED_BACK))
        except NotFound:
            self._log.lease_lost(seq, delivery.call.call_id)
            return
        self._log.handed_back(seq, delivery.call.function_ref, delivery.call.call_id)

    async def _keep_leases(self) -> None:
        period = self._lease / 3
        while True:
            await asyncio.sleep(period)
            await self._extend_ready()
            for ctx in list(self._running.values()):
                if ctx.settled or ctx.lease_lost:
                    continue
                try:
                    await self._queue.extend(ctx.delivery, self._lease)
                except NotFound:
                    if not ctx.settled:
                        ctx.lease_lost = True
                        self._log.lease_lost(ctx.seq, ctx.call.call_id)
                except PyfaasError as exc:
                    self._log.line(f"[#{ctx.seq}] Cannot extend lease: {exc}")

    async def _extend_ready(self) -> None:
        """Keep the leases of calls claimed ahead; drop those already lost."""
        for delivery in list(self._ready):
            try:
                await self._queue.extend(delivery, self._lease)
            except NotFound:
                with contextlib.suppress(ValueError):
                    self._ready.remove(delivery)
                    self._log.lease_lost(0, delivery.call.call_id)
            except PyfaasError as exc:
                self._log.line(f"Cannot extend the lease of a waiting call: {exc}")


def _overriding(hooks: Sequence[Hook], step: str) -> list[Callable[[CallContext], Awaitable[None]]]:
    """The bound ``step`` of each hook that does something in it, in order."""
    base = getattr(Hook, step)
    return [getattr(hook, step) for hook in hooks if getattr(type(hook), step) is not base]
