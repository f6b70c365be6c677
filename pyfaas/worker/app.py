"""The queue-worker's composition root and its shutdown sequence.

``run_worker(settings)`` opens the queue, builds the one HTTP session, the
hooks, the callback outbox and the loop, and runs until SIGTERM or SIGINT.
Shutdown order: stop claiming; let running calls finish for up to
``grace_period`` seconds while their leases are kept; hand the rest back to
the queue; close; exit 0. A worker that cannot go on (its settles keep
failing, or its claim loop broke) goes through the same order and exits 1,
so that ``pyfaas serve`` starts a new one. Signal handlers only record the
signal; the loop acts on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
from collections.abc import Callable
from typing import TextIO

import aiohttp

from pyfaas.queue import open_queue
from pyfaas.queue.base import Queue
from pyfaas.worker.callback_guard import GuardedResolver
from pyfaas.worker.callbacks import CallbackSender
from pyfaas.worker.context import Hook
from pyfaas.worker.hooks import CallbackHook, LoggingHook, RetryHook
from pyfaas.worker.invoke import GatewayClient, new_session
from pyfaas.worker.logs import EventLog
from pyfaas.worker.loop import WorkerLoop
from pyfaas.worker.outbox import Outbox
from pyfaas.worker.retries import PolicyCache, RetryPolicy
from pyfaas.worker.settings import WorkerSettings


async def run_worker(
    settings: WorkerSettings,
    *,
    queue: Queue | None = None,
    stream: TextIO | None = None,
    stop: asyncio.Event | None = None,
    rng: random.Random | None = None,
) -> int:
    """Run the worker until SIGTERM/SIGINT (or ``stop``, if given) arrives; returns the exit code.

    ``queue`` replaces the one named by ``settings.queue_url`` (it is then
    started and closed by the caller); ``stream`` replaces standard output.
    """
    log = EventLog(stream or sys.stdout, print_body=settings.faas_print_body)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(log.flush)  # last out: lines still waiting for their turn
        if queue is None:
            queue = open_queue(settings.queue_url)
            await queue.start()
            stack.push_async_callback(queue.close)
        if stop is None:
            stop = asyncio.Event()
            stack.callback(_on_signals(stop))
        loop = _build_loop(settings, stack, log, queue, rng or random.Random())
        log.started(
            settings.max_inflight, settings.queue_url, settings.gateway_url, settings.worker_name
        )
        await _run_until(loop, stop)
        if loop.inflight:
            grace = settings.grace_period
            log.line(f"Stopping: waiting up to {grace:g}s for {loop.inflight} running call(s)")
        await loop.drain(settings.grace_period)
        if loop.failure is not None:
            log.line(f"Stopped, exiting with status 1: {loop.failure}")
            return 1
        log.line("Stopped")
    return 0


def _build_loop(
    settings: WorkerSettings,
    stack: contextlib.AsyncExitStack,
    log: EventLog,
    queue: Queue,
    rng: random.Random,
) -> WorkerLoop:
    """The claim loop and what it calls through, each closed by ``stack`` on leaving."""
    session = new_session(settings.max_inflight)
    stack.push_async_callback(session.close)
    gateway = GatewayClient(
        session,
        settings.gateway_url,
        credentials=settings.credentials,
        timeout=settings.invoke_timeout,
    )
    stack.push_async_callback(gateway.close)
    policies = PolicyCache(
        RetryPolicy.from_settings(settings),
        gateway.function_annotations,
        ttl=settings.annotation_ttl,
        on_error=log.line,
    )
    stack.push_async_callback(policies.close)
    # Callbacks have a session of their own: receivers that never answer
    # must not take the connections that invocations and look-ups need.
    # Resolved through the guard: a callback never reaches cloud metadata.
    callback_session = new_session(
        settings.callback_max_inflight, GuardedResolver(settings.callback_allow)
    )
    stack.push_async_callback(callback_session.close)
    outbox = build_outbox(settings, log, callback_session, policies.default, rng)
    return WorkerLoop(
        queue,
        gateway.invoke,
        build_hooks(log, gateway, queue, policies, rng),
        log,
        max_inflight=settings.max_inflight,
        ack_wait=settings.ack_wait,
        claim_wait=settings.claim_wait,
        callbacks=outbox.deliver,
        callback_max_inflight=settings.callback_max_inflight,
        result_max_bytes=settings.result_max_bytes,
    )


def build_hooks(
    log: EventLog, gateway: GatewayClient, queue: Queue, policies: PolicyCache, rng: random.Random
) -> list[Hook]:
    return [LoggingHook(log, gateway, queue), RetryHook(policies, rng), CallbackHook(log)]


def build_outbox(
    settings: WorkerSettings,
    log: EventLog,
    session: aiohttp.ClientSession,
    policy: RetryPolicy,
    rng: random.Random,
) -> Outbox:
    sender = CallbackSender(
        session,
        signing_key=settings.signing_key,
        timeout=settings.callback_timeout,
        allowed=settings.callback_allow,
    )
    return Outbox(sender, log, attempts=settings.callback_attempts, policy=policy, rng=rng)


async def _run_until(loop: WorkerLoop, stop: asyncio.Event) -> None:
    """Run the claim loop until ``stop`` is set, or until the worker must end."""
    runner = asyncio.create_task(loop.run())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        loop.stop()
        try:
            await runner  # returns after its current claim
        except Exception as exc:  # the claim loop itself broke: drain, then exit 1
            loop.crashed("the claim loop", exc)
    finally:
        stopper.cancel()
        if not runner.done():
            runner.cancel()
        await asyncio.gather(runner, stopper, return_exceptions=True)


def _on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """Set ``stop`` on SIGTERM/SIGINT; returns what undoes it."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (RuntimeError, ValueError, NotImplementedError):
            continue  # not the main thread: the caller stops us through ``stop``
        installed.append(sig)

    def restore() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return restore
