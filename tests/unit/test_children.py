"""``die_with_parent``: which threads may spawn a long-lived child, and what the child does."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from pyfaas._children import die_with_parent


def on_thread(fn: Callable[[], object]) -> object:
    """``fn()`` run on a fresh thread: its result, or the exception it raised."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    return out[0]


def test_a_plain_thread_may_not_spawn_a_long_lived_child() -> None:
    # The kernel would kill the child when this thread ends, not when the process does.
    refused = on_thread(die_with_parent)
    assert isinstance(refused, RuntimeError)
    assert "PR_SET_PDEATHSIG" in str(refused)


def test_a_thread_that_waits_for_its_child_or_runs_a_loop_may() -> None:
    assert callable(on_thread(lambda: die_with_parent(waited=True)))

    async def in_loop() -> object:
        return die_with_parent()

    assert callable(on_thread(lambda: asyncio.run(in_loop())))
    assert callable(die_with_parent())  # the main thread


@pytest.mark.integration
def test_the_child_asks_for_sigkill_then_runs_the_rest_of_its_setup() -> None:
    ran: list[str] = []
    setup = die_with_parent(lambda: ran.append("in the child's copy of memory only"))
    assert setup is not None
    # PR_GET_PDEATHSIG (2) reads the signal back, in the program the child exec'd.
    code = (
        "import ctypes; libc = ctypes.CDLL(None); sig = ctypes.c_int();"
        " libc.prctl(2, ctypes.byref(sig), 0, 0, 0); print(sig.value)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=setup, capture_output=True, text=True, check=True
    )
    assert int(done.stdout) == signal.SIGKILL  # it survives exec
    assert ran == []


@pytest.mark.integration
def test_a_child_of_a_loop_thread_dies_when_that_thread_ends() -> None:
    async def spawn() -> subprocess.Popen[bytes]:
        # Blocking on purpose: a spawn made on the loop's own thread, as asyncio's are.
        return subprocess.Popen(["sleep", "30"], preexec_fn=die_with_parent())  # noqa: ASYNC220

    child = on_thread(lambda: asyncio.run(spawn()))
    assert isinstance(child, subprocess.Popen)
    try:
        # The thread has ended: the kernel killed its child, whose process lives on.
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait()
