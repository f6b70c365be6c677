"""SIGKILL of one process below ``pyfaas serve``, while it accepts and while it drains.

The gateway or the queue-worker is killed alone, and serve starts it again;
the SQLite writers (the gateway's, which stores puts, and the worker's,
which stores claims and settles) are killed, and the next operation of each
starts a new one. Every call that got a 202 must run.
"""

from __future__ import annotations

import pytest

from tests.crash.conftest import Rig
from tests.crash.served import (
    GATEWAY,
    INFLIGHT,
    WORKER,
    Load,
    Serve,
    assert_none_lost,
    submit_all,
    tally,
)
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

CALLS = 100
VICTIMS = ["gateway", "queue-worker", "sqlite writers"]


def kill(serve: Serve, victim: str) -> None:
    if victim == "gateway":
        serve.kill_component(GATEWAY)
    elif victim == "queue-worker":
        serve.kill_component(WORKER)
    else:
        serve.kill_writers()


@pytest.mark.parametrize("victim", VICTIMS)
def test_killed_while_accepting_runs_every_accepted_call(rig: Rig, victim: str) -> None:
    serve = rig.serve
    load = Load(rig.submitter, serve.url, cap=CALLS)
    with load.running():
        load.wait_accepted(CALLS // 3)
        kill(serve, victim)
        load.wait_accepted(CALLS)
    label = f"{victim} killed while accepting"
    counted = tally(rig.submitter, rig.receiver, serve.queue_idle, label)
    assert_none_lost(counted, bound=3 * INFLIGHT, logs=[serve.output()])


@pytest.mark.parametrize("victim", VICTIMS)
def test_killed_while_draining_runs_every_accepted_call(rig: Rig, victim: str) -> None:
    serve = rig.serve
    submit_all(rig.submitter, serve.url, CALLS)
    wait_for(lambda: len(rig.receiver.runs()) >= CALLS // 4, timeout=60)
    kill(serve, victim)
    label = f"{victim} killed while draining"
    counted = tally(rig.submitter, rig.receiver, serve.queue_idle, label)
    assert_none_lost(counted, bound=3 * INFLIGHT, logs=[serve.output()])
