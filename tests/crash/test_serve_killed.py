"""SIGKILL of ``pyfaas serve`` itself, while it accepts and while it drains.

Everything below serve must die with it (no gateway, worker, writer or
replica left holding the port or the state), and a new serve on the same
port and state directory must run every call that got a 202.
"""

from __future__ import annotations

import pytest

from tests.crash.conftest import Rig
from tests.crash.served import INFLIGHT, Load, assert_none_lost, submit_all, tally
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

CALLS = 100


def test_serve_killed_while_accepting_runs_every_accepted_call(rig: Rig) -> None:
    serve = rig.serve
    load = Load(rig.submitter, serve.url, cap=CALLS)
    with load.running():
        load.wait_accepted(CALLS // 2)
        left = serve.kill_serve()
        # Answers already on their way may still arrive; after that a dead serve accepts nothing.
        load.wait_refused(10)
        while_down = load.accepted
        load.wait_refused(10)
        assert load.accepted == while_down, "a 202 came from a killed serve"
        serve.stop()  # whatever outlived serve, so that it can start again
        serve.start()
        load.wait_accepted(CALLS)
    counted = tally(rig.submitter, rig.receiver, serve.queue_idle, "serve killed while accepting")
    assert_none_lost(counted, bound=3 * INFLIGHT, logs=[serve.output()])
    assert left == [], f"processes outlived a killed serve: {left}"


def test_serve_killed_while_draining_runs_every_accepted_call(rig: Rig) -> None:
    serve = rig.serve
    submit_all(rig.submitter, serve.url, CALLS)
    wait_for(lambda: len(rig.receiver.runs()) >= CALLS // 4, timeout=60)
    left = serve.kill_serve()
    serve.stop()
    serve.start()
    counted = tally(rig.submitter, rig.receiver, serve.queue_idle, "serve killed while draining")
    assert_none_lost(counted, bound=3 * INFLIGHT, logs=[serve.output()])
    assert left == [], f"processes outlived a killed serve: {left}"
