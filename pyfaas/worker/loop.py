"""The worker loop: claim calls ahead of free slots, run each, settle it in the background.

The loop knows only the queue's lease protocol. It keeps up to
``max_inflight`` claimed calls waiting beside the ``max_inflight`` running
ones (their leases held and extended like the running ones'), so a freed
slot starts the next call at once instead of waiting for a claim to commit;
a second claim may be on its way while the first waits for its commit.
A finished call frees its slot as soon as its invocation is done; its
settle (ack, retry or bury) commits in the background, batched with
others, and starts once the next call has been sent. A call is still
settled only after it ran, and the times the worker reports (start,
finish) are its own, so calls run with ``max_inflight=1`` are recorded
strictly one after another. What happens around an invocation hangs
off it as hooks, Dramatiq-style:
``before_invoke``, ``after_invoke`` (which decide retry, bury or ack, and
queue the callback) and ``after_settle``; each hook fails alone (logged),
and a failed hook fails the call without running the function again. While
a call runs or settles its lease is extended every third of ``ack_wait``,
so a long call is never handed to a second worker while this one lives; if
this one dies, the lease runs out and the call comes back.

Callback deliveries (queued calls with an ``answer``, put by the callback
hook before their call is settled) share the queue and the claims but run
in slots of their own, ``callback_max_inflight`` of them, so a receiver
that never answers holds up no function call and no other slot for longer
than its own post. A call waiting for its function's own cap
(``com.pyfaas.queue.max_inflight``) leaves its slot to other functions'
calls meanwhile, and takes one back, ahead of the calls claimed ahead,
once its function has room. The calls claimed ahead start one function at
a time (``ready.Ready``), as the queue hands them out, so a flooded
function's calls claimed ahead never keep another's newcomer waiting for
more than one turn. A function answering 429 has its limit in this worker
halved, and grown back by one per 2xx (``slots``: adaptive concurrency).
A call whose lease was lost before it started is dropped unrun.

An unexpected exception anywhere goes through ``supervise.Supervisor``:
claiming backs off and claims again, lease keeping goes on, a settle is
tried again a few times and then ends the worker (status 1).

A gateway that cannot even be connected to (restarting, or down) has not
run the function, so it costs the call none of its attempts: the worker
keeps the call and its lease and tries again with backoff until the gateway
answers. Otherwise a short gateway outage would send every queued call
through its attempts into the dead letters within seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from pyfaas import _tasks as tasks
from pyfaas.errors import NotFound
from pyfaas.queue.base import Queue
from pyfaas.queue.envelope import Delivery
from pyfaas.worker.context import CallContext, Handler, Hook, Settle, overriding
from pyfaas.worker.invoke import Invoke, until_reachable
from pyfaas.worker.leases import LeaseKeeper
from pyfaas.worker.logs import EventLog
from pyfaas.worker.ready import Lane, Ready
from pyfaas.worker.results import RESULT_MAX_BYTES
from pyfaas.worker.settling import (
    EXPIRED,
    HANDED_BACK,
    HOOK_FAILED,
    NO_OUTBOX,
    Settler,
    joined,
)
from pyfaas.worker.slots import TOO_MANY_REQUESTS, UNCAPPED, FunctionSlots
from pyfaas.worker.supervise import Backoff, Supervisor

__all__ = ["HANDED_BACK", "CallContext", "Hook", "Settle", "WorkerLoop"]

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
# The queue hands functions out in turn within a claim: a claim of one would
# always take the function with the oldest call, so every claim asks for at
# least this many, and a newcomer comes out with the flood's next call
# (with max_inflight=1, one call runs and up to two wait claimed ahead).
FAIR_CLAIM = 2
# Claimed callbacks wait for a callback slot under their leases; past this
# many per slot the worker stops claiming until they thin out.
CALLBACKS_WAITING_PER_SLOT = 16


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
        callbacks: Handler | None = None,
        callback_max_inflight: int = 16,
        result_max_bytes: int = RESULT_MAX_BYTES,
    ) -> None:
        self._queue = queue
        self._invoke = invoke
        # Each step runs only the hooks that override it: most steps of most
        # hooks do nothing, and awaiting them would cost every call.
        self._before = overriding(hooks, "before_invoke")
        self._after = overriding(hooks, "after_invoke")
        self._settled = overriding(hooks, "after_settle")
        self._log = log
        self._sup = Supervisor(log, on_fatal=self.stop)
        self._settler = Settler(queue, self._sup, log, result_max_bytes=result_max_bytes)
        self._max = max_inflight
        self._lease = ack_wait
        self._claim_wait = claim_wait
        self._reconnect_wait = reconnect_wait  # first and longest wait for the gateway
        self._slots = FunctionSlots()
        self._calls = Lane(max_inflight, self._handle)
        self._callbacks = Lane(callback_max_inflight, callbacks or self._no_outbox)
        self._lanes = (self._calls, self._callbacks)
        self._settling: dict[asyncio.Task[None], CallContext] = {}
        # Calls waiting for their function's own cap, without a worker-wide
        # slot; then for a slot again, ahead of the calls claimed ahead.
        self._parked: dict[asyncio.Task[None], CallContext] = {}
        self._unparking: deque[tuple[asyncio.Task[None], asyncio.Future[None]]] = deque()
        self._wake = asyncio.Event()
        self._stopping = False
        self._seq = 0
        self._claiming: set[asyncio.Task[None]] = set()  # claims in flight
        self._claim_backoff = Backoff(0.1, 5.0)
        self._asked = 0  # calls asked for by the claims in flight
        self._recent = SHORT_CALL  # the recent calls' mean duration, in seconds
        self._keeper: asyncio.Task[None] | None = None

    @property
    def inflight(self) -> int:
        return len(self._calls.running) + len(self._callbacks.running) + len(self._parked)

    @property
    def failure(self) -> str | None:
        """Why the worker had to stop, if it had to; the process then exits 1."""
        return self._sup.failure

    def crashed(self, what: str, exc: BaseException) -> None:
        """A task of the worker's own died: log it and stop, to exit 1."""
        self._sup.fatal(what, repr(exc))

    def stop(self) -> None:
        """Stop claiming; calls already running carry on (see ``drain``)."""
        self._stopping = True
        self._sup.stop()
        self._wake.set()

    async def run(self) -> None:
        """Claim and dispatch until ``stop``; returns with calls possibly still running."""
        if self._keeper is None:
            keeper = LeaseKeeper(self._queue, self._lease, self._held, self._sup, self._log)
            self._keeper = asyncio.create_task(keeper.run())
        try:
            while not self._stopping:
                self._start_ready()
                room = self._room()
                if room <= 0 or len(self._claiming) >= CLAIMS_IN_FLIGHT:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._asked += room
                claim = asyncio.create_task(self._claim_ahead(room))
                claim.add_done_callback(self._claim_done)
                self._claiming.add(claim)
        finally:
            await asyncio.gather(*self._claiming, return_exceptions=True)

    def _room(self) -> int:
        """How many calls the next claim asks for (0: none now)."""
        calls, waiting = self._calls, len(self._callbacks.ready)
        if waiting >= self._callbacks.limit * CALLBACKS_WAITING_PER_SLOT:
            return 0
        ahead, batch = self._max, FAIR_CLAIM
        if self._recent < SHORT_CALL:
            ahead, batch = max(ahead, SHORT_CALLS_AHEAD), SHORT_CALLS_BATCH
        room = self._max + ahead - len(calls.running) - len(calls.ready) - self._asked
        # Parked calls left their slots to others; past max_inflight of them
        # they count, or a worker would claim a capped function's whole queue.
        room -= max(0, len(self._parked) - self._max)
        if calls.ready or self._asked:
            return room if room >= batch else 0  # still some ahead: wait for a batch
        return max(room, FAIR_CLAIM) if room > 0 else room

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for running calls, then hand the rest back.

        Leases stay extended while the calls finish; calls claimed ahead that
        never started go back to the queue.
        """
        running = [*self._parked, *(task for lane in self._lanes for task in lane.running)]
        if running:
            await asyncio.wait(running, timeout=grace)
        rest = [*self._parked, *(task for lane in self._lanes for task in lane.running)]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        unrun = [d for lane in self._lanes for d in lane.ready]
        for lane in self._lanes:
            lane.ready.clear()
        await asyncio.gather(*(self._settler.give_back(d) for d in unrun))
        await asyncio.gather(*self._settling, return_exceptions=True)
        keeper, self._keeper = self._keeper, None
        await tasks.stop(keeper)

    def _start_ready(self) -> None:
        calls = self._calls
        while self._unparking and len(calls.running) < calls.limit:
            task, resume = self._unparking.popleft()
            ctx = self._parked.pop(task, None)
            if ctx is not None and not resume.done():
                calls.running[task] = ctx
                resume.set_result(None)
        for lane in self._lanes:
            while lane.ready and len(lane.running) < lane.limit and not self._stopping:
                self._dispatch(lane, lane.ready.popleft())

    def _claim_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.crashed("claiming", task.exception() or RuntimeError())

    async def _claim_ahead(self, limit: int) -> None:
        # Counted out here, before the wake, so that run() sees the room it
        # made (a done-callback would run only after run() had looked).
        try:
            deliveries = await self._claim(limit)
        finally:
            self._claiming.discard(asyncio.current_task())
            self._asked -= limit
        for delivery in deliveries:
            lane = self._calls if delivery.call.answer is None else self._callbacks
            lane.ready.append(delivery)
        self._start_ready()
        self._wake.set()

    async def _claim(self, limit: int) -> list[Delivery]:
        claim = self._queue.claim
        args = (limit, self._lease, self._claim_wait)
        deliveries = await self._sup.retrying(
            "claiming calls", claim, *args, backoff=self._claim_backoff
        )
        if deliveries and self._stopping:
            # Claimed while being told to stop: give them straight back.
            await asyncio.gather(*(self._settler.give_back(d) for d in deliveries))
            return []
        return deliveries or []

    def _dispatch(self, lane: Lane, delivery: Delivery) -> None:
        self._seq += 1
        ctx = CallContext(seq=self._seq, delivery=delivery)
        task = asyncio.create_task(self._run_one(lane, ctx))
        lane.running[task] = ctx
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if not self._release(task):
            self._settling.pop(task, None)  # freed its slot before its settle

    def _release(self, task: asyncio.Task[Any]) -> CallContext | None:
        """Free ``task``'s slot, if it still holds one: its context, or None."""
        ctx = self._calls.running.pop(task, None) or self._callbacks.running.pop(task, None)
        if ctx is None:
            return self._parked.pop(task, None)  # cancelled while parked: no slot to free
        self._start_ready()  # the next call starts now, not when run() wakes
        self._wake.set()
        return ctx

    async def _run_one(self, lane: Lane, ctx: CallContext) -> None:
        try:
            await lane.handle(ctx)
        except asyncio.CancelledError:
            await self._settler.interrupted(ctx)
            return
        except Exception as exc:
            self._failed(ctx, exc)
        ctx.outcome.finished_at = time.time()
        # The call is done: its slot is free while the settle commits, in
        # this same task (one task fewer per call than a task per settle).
        task = asyncio.current_task()
        if task is not None and (freed := self._release(task)) is not None:
            self._settling[task] = freed
        if ctx.settled:  # dropped unrun: its lease is gone
            return
        # One turn of the loop first: the call given the slot sends its
        # request before this settle does its work (with max_inflight=1, on
        # NATS: 168 µs from one call's end to the next one's start, 88 µs).
        await asyncio.sleep(0)
        if await self._settler.settle(ctx) and self._settled:
            await self._sup.each("after_settle", self._settled, ctx, ctx.call.call_id)

    async def _handle(self, ctx: CallContext) -> None:
        failed = await self._sup.each("before_invoke", self._before, ctx, ctx.call.call_id)
        if failed is not None:  # not run, and not to be run until someone looks
            ctx.settle, ctx.reason = Settle.BURY, HOOK_FAILED
            ctx.outcome.error = failed
            return
        call, slots, cap = ctx.call, self._slots, ctx.limit
        capped = cap is not None or (bool(slots.backed) and call.function_ref in slots.backed)
        async with slots.hold(call.function_ref, cap, self._park) if capped else UNCAPPED:
            if capped:
                await self._unpark()
            if call.expire_at and ctx.delivery.attempt == 1 and call.expire_at <= time.time():
                # Claimed in time, but it waited here past its expire_at.
                ctx.settle, ctx.reason = Settle.BURY, EXPIRED
                ctx.outcome.error = "not started by its expire_at"
                return
            try:  # the queue may have taken it back: cancelled, or its lease ran out
                if ctx.lease_lost:
                    raise NotFound("lease lost before the call started")
                await self._queue.mark_running(ctx.delivery)
            except NotFound:
                self._drop(ctx)
                return
            ctx.outcome.started_at = time.time()
            ctx.invoked = True
            result = await self._invoke(call)
            if not result.reached:  # the lease stays extended; shutdown hands it back unrun
                self._log.gateway_unreachable(ctx.seq, call.function_ref, result.error or "")
                result = await until_reachable(self._invoke, call, self._reconnect_wait)
            ctx.result = result  # only an answer: a call cut short before one is handed back
            if result.status == TOO_MANY_REQUESTS or slots.backed:
                slots.answered(call.function_ref, result.status, cap or self._max)
        self._recent += (ctx.result.seconds - self._recent) / 8
        ctx.outcome.status_code = ctx.result.status
        ctx.outcome.error = ctx.result.error
        failed = await self._sup.each("after_invoke", self._after, ctx, ctx.call.call_id)
        if failed is not None:  # the function ran: settle it failed, never run it again
            if ctx.settle is Settle.RETRY:
                ctx.settle = Settle.ACK
            ctx.outcome.error = joined(ctx.outcome.error, failed)

    def _drop(self, ctx: CallContext) -> None:
        """``ctx`` is no longer this worker's and never started: not run, not settled.

        The queue says so by raising ``NotFound`` from ``mark_running`` (or
        from ``extend``, which the lease keeper marks as a lost lease).
        """
        ctx.lease_lost = ctx.settled = True
        self._log.not_started(ctx.seq, ctx.call.function_ref, ctx.call.call_id)

    def _park(self) -> None:
        """The running call waits for its function's cap: its worker-wide slot goes to the next."""
        task = asyncio.current_task()
        ctx = self._calls.running.pop(task, None) if task is not None else None
        if task is not None and ctx is not None:
            self._parked[task] = ctx
            self._start_ready()
            self._wake.set()

    async def _unpark(self) -> None:
        """A parked call has its function's slot: wait for a worker-wide one (at once if free)."""
        task = asyncio.current_task()
        if task is None or task not in self._parked:
            return
        resume = asyncio.get_running_loop().create_future()
        self._unparking.append((task, resume))
        self._start_ready()
        await resume

    def _failed(self, ctx: CallContext, exc: Exception) -> None:
        """What an unexpected exception while handling ``ctx`` does to it."""
        error = f"internal error: {exc!r}"
        if ctx.invoked:  # it may have had its effect: settle it failed
            ctx.settle = Settle.BURY if ctx.settle is Settle.BURY else Settle.ACK
            then = "settled as failed, not run again"
        else:  # it never ran: again later, later each time
            ctx.settle, ctx.delay = Settle.RETRY, min(2.0 ** (ctx.delivery.attempt - 1), 60.0)
            then = f"not run; trying again in {ctx.delay:g}s"
        ctx.outcome.error = joined(ctx.outcome.error, error)
        self._sup.report("handling a call", exc, ctx.call.call_id, then, seq=ctx.seq)

    async def _no_outbox(self, ctx: CallContext) -> None:
        ctx.settle = Settle.BURY
        ctx.reason = NO_OUTBOX
        ctx.outcome.error = "a callback delivery, and this worker has no outbox"

    def _held(self) -> tuple[Iterable[Ready], Iterable[CallContext]]:
        """What the lease keeper extends: calls claimed ahead, running or settling."""
        contexts = [ctx for lane in self._lanes for ctx in lane.running.values()]
        held = [*contexts, *self._parked.values(), *self._settling.values()]
        return [lane.ready for lane in self._lanes], held
