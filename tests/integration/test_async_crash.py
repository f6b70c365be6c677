"""Crash tests of the asynchronous path: no accepted call is ever lost.

The gateway and the queue-worker run as separate real processes on a
private ``PYFAAS_HOME``. Calls go to a ``sleep 0.1`` function with a
callback to a receiver in this process; a 2xx callback proves a run. While
the queue drains, the worker and the gateway are killed with SIGKILL (the
gateway's replicas die with it) and started again. Every call answered 202
must run at least once; a call may run twice (at-least-once), and the tests
print how many did. A second test kills the gateway while it is accepting:
submissions that got no 202 are not counted, every 202 must run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import NatsServer, wait_for
from tests.integration.processes import (
    FUNCTION,
    GatewayProcess,
    Receiver,
    Submitter,
    WorkerProcess,
    function_spec,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CALLS = 200
INFLIGHT = 4


@dataclass
class Platform:
    gateway: GatewayProcess
    worker: WorkerProcess
    receiver: Receiver
    submitter: Submitter

    def restart_gateway(self) -> None:
        self.gateway.start()
        self.gateway.wait_healthy()

    def restart_worker(self) -> None:
        self.worker.start()
        self.worker.wait_started()

    def wait_callbacks(self, count: int, timeout: float = 60.0) -> None:
        wait_for(lambda: len(self.receiver.succeeded()) >= count, timeout, interval=0.02)


@pytest.fixture(params=["sqlite", pytest.param("nats", marks=pytest.mark.nats)])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    home = tmp_path / "home"
    nats: NatsServer | None = None
    if request.param == "nats":
        # A server of its own: the test reads the queue's totals, which others would share.
        (tmp_path / "nats").mkdir()
        nats = NatsServer(tmp_path / "nats").start()
        queue_url = nats.url
    else:
        queue_url = f"sqlite://{home / 'queue.db'}"
    gateway = GatewayProcess(home, queue_url)
    worker: WorkerProcess | None = None
    receiver = Receiver()
    submitter = Submitter(receiver.url)
    try:
        gateway.start()  # on a port of its choosing, which it says
        gateway.wait_healthy()
        gateway.deploy(function_spec(receiver))
        wait_for(lambda: gateway.function_ready(FUNCTION), timeout=60, interval=0.1)
        worker = WorkerProcess(home, gateway.url, queue_url, max_inflight=INFLIGHT)
        worker.start()
        worker.wait_started()
        yield Platform(gateway, worker, receiver, submitter)
    finally:
        if worker is not None:
            worker.stop()
        gateway.stop()
        submitter.close()
        receiver.close()
        if nats is not None:
            nats.stop()


def assert_nothing_lost(platform: Platform, label: str) -> tuple[int, int]:
    """Every 202 ran and was called back; nothing ran that was never submitted.

    Returns (calls that ran more than once, calls called back more than once),
    and prints them.
    """
    accepted = set(platform.submitter.accepted)
    receiver, gateway = platform.receiver, platform.gateway
    wait_for(lambda: accepted <= receiver.succeeded().keys(), timeout=90, interval=0.1)
    wait_for(gateway.queue_settled, timeout=30, interval=0.1)
    runs, callbacks = receiver.runs(), receiver.succeeded()
    assert not accepted - runs.keys(), "an accepted call was called back but never ran"
    attempted = set(platform.submitter.attempted)
    assert runs.keys() <= attempted, "a call ran that nobody submitted"
    for call_id in accepted:
        record = gateway.call_record(call_id)
        assert record["state"] == "succeeded", record
        assert record["callbackStatus"] == 200, record
    ran_twice = sum(1 for n in runs.values() if n > 1)
    called_twice = sum(1 for n in callbacks.values() if n > 1)
    print(
        f"\n{label}: {len(accepted)} accepted ({platform.submitter.failed} submissions refused),"
        f" {len(runs)} calls ran {sum(runs.values())} times; {ran_twice} ran more than once,"
        f" {called_twice} were called back more than once"
    )
    return ran_twice, called_twice


def test_killing_worker_and_gateway_while_draining_loses_no_call(platform: Platform) -> None:
    for _ in range(CALLS):
        assert platform.submitter.submit(platform.gateway.url)
    gateway, worker = platform.gateway, platform.worker

    # The worker dies with calls in flight; their leases run out and they come back.
    platform.wait_callbacks(CALLS // 5)
    worker.kill()
    platform.restart_worker()
    # The gateway dies (its replicas with it): calls in flight fail and are retried.
    platform.wait_callbacks(2 * CALLS // 5)
    gateway.kill()
    platform.restart_gateway()
    # Both at once; the worker comes back first and waits out the gateway's absence.
    platform.wait_callbacks(3 * CALLS // 5)
    worker.kill()
    gateway.kill()
    platform.restart_worker()
    platform.restart_gateway()

    ran_twice, called_twice = assert_nothing_lost(platform, "kills while draining")
    # At-least-once: a call runs again if it was in flight at one of the three
    # kills, or if it had finished but its ack had not been stored when a
    # worker died. A finished call frees its slot before its settle commits,
    # so each of the two worker kills may also catch up to INFLIGHT settles
    # in the background. Its callback is queued with the settle, once per
    # stored outcome, so those runs are not called back twice.
    assert called_twice <= 2 * INFLIGHT
    assert ran_twice <= 3 * INFLIGHT + 2 * INFLIGHT


def test_killing_gateway_while_accepting_loses_no_accepted_call(platform: Platform) -> None:
    gateway, submitter = platform.gateway, platform.submitter
    stop = threading.Event()

    def submit_until_stopped() -> None:
        while not stop.is_set():
            if not submitter.submit(gateway.url):
                stop.wait(0.01)  # pace retries against a dead gateway; others share the CPU

    threads = [threading.Thread(target=submit_until_stopped) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(submitter.accepted) >= CALLS // 3, timeout=30)
        gateway.kill()  # with submissions in flight
        # Answers already on their way may still arrive; after that, a dead gateway accepts nothing.
        refused = submitter.failed
        wait_for(lambda: submitter.failed >= refused + 20, timeout=30)
        accepted_while_down = len(submitter.accepted)
        wait_for(lambda: submitter.failed >= refused + 40, timeout=30)
        assert len(submitter.accepted) == accepted_while_down
        platform.restart_gateway()
        wait_for(lambda: len(submitter.accepted) >= CALLS, timeout=60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    ran_twice, called_twice = assert_nothing_lost(platform, "gateway killed while accepting")
    # The worker never died, and a failed invocation leaves no callback to repeat.
    assert called_twice == 0
    assert ran_twice <= INFLIGHT
