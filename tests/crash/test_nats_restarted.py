"""nats-server gone and back while ``pyfaas serve --queue nats://...`` drains or accepts.

It is stopped while the queue drains, and SIGKILLed while the gateway
accepts. While the server is gone the gateway must answer 503, with a
reason, to every submission (a 202 then would be a promise nobody stored);
the queue-worker must reconnect once it is back, and every call that got a
202, before or after, must run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crash.conftest import Rig, served
from tests.crash.served import INFLIGHT, Calls, Load, Serve, assert_none_lost, submit_all, tally
from tests.helpers import NatsServer, wait_for
from tests.integration.processes import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.nats, pytest.mark.timeout(150)]

CALLS = 100
PROBES = 8


class KillableNats(NatsServer):
    def kill(self) -> None:
        """SIGKILL: no shutdown of its own, only what JetStream already wrote survives."""
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait(timeout=10)
        self._proc = None


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[KillableNats]:
    # A server of its own: the test stops it, and reads the queue's totals.
    (tmp_path / "nats").mkdir()
    server = KillableNats(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_rig(tmp_path: Path, nats: KillableNats, recorder: tuple[Receiver, Calls]) -> Iterator[Rig]:
    """``pyfaas serve --queue nats://...`` with the recording function deployed."""
    yield from served(Serve(tmp_path, queue=nats.url), recorder)


def probe_outage(calls: Calls, url: str) -> list[tuple[int, str]]:
    """Submit ``PROBES`` calls from four threads; each one's status and body."""
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def probe() -> None:
        for _ in range(PROBES // 4):
            found = calls.post(url)
            with lock:
                answers.append(found)

    threads = [threading.Thread(target=probe) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_nats_restarted_while_draining_loses_no_accepted_call(
    nats_rig: Rig, nats: KillableNats
) -> None:
    serve, calls = nats_rig.serve, nats_rig.submitter
    submit_all(calls, serve.url, CALLS)
    wait_for(lambda: len(nats_rig.receiver.runs()) >= CALLS // 4, timeout=60)
    nats.stop()
    accepted = len(calls.accepted)
    answers = probe_outage(calls, serve.url)
    accepted_while_gone = len(calls.accepted) - accepted
    nats.start()
    # The gateway takes calls again once its connection is back.
    wait_for(lambda: calls.submit(serve.url), timeout=60, interval=0.2)
    submit_all(calls, serve.url, CALLS // 5)
    statuses = sorted({status for status, _ in answers})
    note = f"while gone {accepted_while_gone} accepted, answers {statuses}: {answers[0][1]!r}"
    label = "nats-server restarted"
    counted = tally(calls, nats_rig.receiver, serve.queue_idle, label, note=note)
    assert accepted_while_gone == 0, "a 202 for a call while nats-server was gone"
    assert statuses == [503], answers
    assert all(body for _, body in answers), "a 503 without a reason"
    assert_none_lost(counted, bound=3 * INFLIGHT, logs=[serve.output()])


def test_nats_killed_while_accepting_loses_no_accepted_call(
    nats_rig: Rig, nats: KillableNats
) -> None:
    serve, calls = nats_rig.serve, nats_rig.submitter
    load = Load(calls, serve.url, cap=CALLS)
    with load.running():
        load.wait_accepted(CALLS // 3)
        nats.kill()
        # Answers already on their way may still arrive; after that nothing is accepted.
        load.wait_refused(10)
        while_gone = load.accepted
        load.wait_refused(10)
        accepted_while_gone = load.accepted - while_gone
        nats.start()
        load.wait_accepted(CALLS)
    note = f"while gone {accepted_while_gone} accepted"
    label = "nats-server killed while accepting"
    counted = tally(calls, nats_rig.receiver, serve.queue_idle, label, note=note)
    assert accepted_while_gone == 0, "a 202 for a call while nats-server was gone"
    assert_none_lost(counted, bound=3 * INFLIGHT, logs=[serve.output()])
