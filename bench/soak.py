"""``python -m bench.soak``: a long mixed load on ``pyfaas serve`` while its parts are killed.

    python -m bench.soak [--minutes 10] [--seed N] [--kill-every 20:60]

One ``pyfaas serve`` on a free 127.0.0.1 port and a temporary state
directory runs two classic functions: ``cat`` (called synchronously) and
``recorder``, which reports each run's call id to a receiver in this
process. Paced loops, bounded in time and count, send synchronous calls,
asynchronous calls and asynchronous calls with a callback to that receiver,
while a killer SIGKILLs the gateway or the queue-worker at random intervals
(serve starts them again). When the time is up the load stops and the queue
drains; then the run prints two tables: the calls (accepted, run, lost, run
twice, callbacks) and each process's resident memory at the start, at its
peak and at the end. It exits 1 if a call answered 202 never ran, or if a
call refused as not stored ran.

This module is the run itself (deploy, drain, the order of it all); serve
and its processes are in ``bench.soak_serve``, the receiver, loops and
killer in ``bench.soak_load``, the memory samples and tables in
``bench.soak_report``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import wait_for
from bench.soak_load import (
    ASYNC_RATE,
    CALLBACK_RATE,
    CAT,
    RECORDER,
    SYNC_RATE,
    Ledger,
    Load,
    Receiver,
)
from bench.soak_report import Memory, memory_rows, table, totals
from bench.soak_serve import Serve

DRAIN_TIMEOUT = 180.0


def deploy(serve: Serve, receiver: Receiver) -> None:
    serve.deploy(
        {
            "service": RECORDER,
            "image": "ghcr.io/openfaas/alpine:latest",
            "envProcess": f"curl -sS --fail --data-binary @- {receiver.base}/run",
        }
    )
    serve.deploy({"service": CAT, "image": "ghcr.io/openfaas/alpine:latest", "envProcess": "cat"})
    wait_for(
        "the functions",
        lambda: serve.ready(RECORDER) and serve.ready(CAT),
        timeout=90,
        interval=0.1,
    )


def drain(serve: Serve, receiver: Receiver, ledger: Ledger) -> float:
    """Wait (bounded) until every 202 ran and was called back and the queue is idle."""
    started = time.monotonic()
    accepted = set(ledger.accepted)
    while time.monotonic() - started < DRAIN_TIMEOUT:
        serve.check()
        runs, callbacks = receiver.counts()
        if (
            accepted <= runs.keys()
            and ledger.with_callback <= callbacks.keys()
            and serve.queue_idle()
        ):
            break
        time.sleep(0.5)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill schedule")
    parser.add_argument(
        "--kill-every", default="20:60", help="seconds between kills, LOW:HIGH (uniform)"
    )
    args = parser.parse_args(argv)
    low, _, high = args.kill_every.partition(":")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    root = Path(tempfile.mkdtemp(prefix="pyfaas-soak-"))
    receiver = Receiver()
    serve = Serve(root)
    ledger = Ledger()
    failed = True
    try:
        print(f"soak: {args.minutes:g} min, seed {seed}, state in {root}", flush=True)
        serve.start()
        deploy(serve, receiver)
        memory = Memory(serve)
        memory.sample()
        load = Load(serve, receiver, ledger, args.minutes * 60)
        load.loop(SYNC_RATE / 2, load.sync_call)
        load.loop(SYNC_RATE / 2, load.sync_call)
        load.loop(ASYNC_RATE, lambda client: load.async_call(client, callback=False))
        load.loop(CALLBACK_RATE, lambda client: load.async_call(client, callback=True))
        load.killer(float(low), float(high or low), random.Random(seed))
        sampler = memory.sampler(load.stop)
        sampler.start()
        load.run()
        print("  load done; draining", flush=True)
        drained = drain(serve, receiver, ledger)
        memory.sample()
        result = totals(ledger, receiver, args.minutes, drained)
        print()
        print(table(("calls", "count"), result.rows))
        print()
        head = ("process", "count start / end", "RSS start MiB", "peak MiB", "end MiB")
        print(table(head, memory_rows(memory)))
        failed = result.lost > 0 or result.ran_refused > 0
        code = serve.stop()
        if code != 0:
            print(f"pyfaas serve stopped with exit code {code}", file=sys.stderr)
            failed = True
    finally:
        serve.stop()
        receiver.close()
        if failed:
            print(f"serve's log kept in {serve.log}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
