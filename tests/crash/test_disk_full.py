"""The state directory's file system runs full while ``pyfaas serve`` accepts and drains.

The state directory is a small tmpfs of its own. Calls are accepted, then a
filler file takes every byte left for a moment: submissions must then
be refused with 503 and a message that says why (SQLite's "database or
disk is full"), no call already accepted may be lost, and once the filler
is deleted the platform must accept again and run everything it accepted.
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
# Shorter than the worker's settle retries (some 3 s): the worker rides the
# spell out instead of ending for serve to start it again.
FULL_FOR = 1.5
REFUSALS = 5


def test_a_full_state_directory_refuses_calls_and_loses_none(
    full_rig: Rig, small_disk: Path
) -> None:
    serve, receiver, calls = full_rig.serve, full_rig.receiver, full_rig.submitter
    submit_all(calls, serve.url, CALLS)
    wait_for(lambda: len(receiver.runs()) >= CALLS // 6, timeout=60)
    spell = full_for(calls, serve.url, small_disk / "filler", FULL_FOR, REFUSALS)
    # Space is back: the platform accepts again, and runs what it took.
    wait_for(lambda: calls.post(serve.url)[0] == 202, timeout=60, interval=0.2)
    submit_all(calls, serve.url, CALLS // 6)
    refusals = spell.refusals
    note = f"while full {spell.accepted} accepted, {len(refusals)} refused: {refusals[:1]}"
    counted = tally(calls, receiver, serve.queue_idle, "state directory full", note=note)
    assert len(refusals) >= REFUSALS, "a full state directory never refused a call"
    assert {status for status, _ in refusals} == {503}, refusals
    assert all("full" in text.lower() for _, text in refusals), refusals
    assert_none_lost(counted, bound=CALLS, logs=[serve.output()])
