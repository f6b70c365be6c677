"""After the state directory ran full, the platform's output still flows and serve stops cleanly.

Every component's output goes to the log store on the state directory:
serve copies its children's lines there, the gateway its replicas'. A full
file system must cost those lines, not the readers of the pipes: a reader
that stopped would leave a child blocked on its next write once the pipe's
64 KiB are full. The spell outlasts the queue-worker's settle retries
(some 3 s), so the worker ends and serve must start it again; then enough
calls run to push more than a pipe's worth through the new worker's and the
replica's output, and serve must stop with status 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.crash.conftest import Rig
from tests.crash.disk import full_for
from tests.crash.served import assert_none_lost, submit_all, tally
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

CALLS = 60
AFTER = 400  # the worker prints some 400 bytes a call
FULL_FOR = 6.0


def test_output_still_flows_after_the_state_directory_was_full(
    full_rig: Rig, small_disk: Path
) -> None:
    serve, receiver, calls = full_rig.serve, full_rig.receiver, full_rig.submitter
    submit_all(calls, serve.url, CALLS)
    wait_for(lambda: len(receiver.runs()) >= CALLS // 6, timeout=60)
    full_for(calls, serve.url, small_disk / "filler", seconds=FULL_FOR, refusals=5)
    wait_for(lambda: calls.post(serve.url)[0] == 202, timeout=60, interval=0.2)
    mark = len(serve.output())
    submit_all(calls, serve.url, AFTER)
    counted = tally(calls, receiver, serve.queue_idle, "output after a full state directory")
    assert_none_lost(counted, bound=CALLS, logs=[serve.output()])
    flowing = "[queue-worker]" in serve.output()[mark:]
    code = serve.stop()
    problems = [] if flowing else ["serve stopped copying the queue-worker's output"]
    if code != 0:
        problems.append(f"serve stopped with {code}")
    assert not problems, f"{'; '.join(problems)}:\n{serve.output()[-3000:]}"
