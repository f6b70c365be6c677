"""A real ``pyfaas serve`` for the crash suite, the load it takes, and the tally of its calls.

``Serve`` is ``tests.serve_process.ServeProcess`` (``pyfaas serve`` on a
fixed port and state directory, started again there after a kill) with the
suite's worker settings; it can SIGKILL serve or any process below it
(found by its command line in ``/proc``). ``Load`` posts
asynchronous calls from a few threads until told to stop or until it has
enough 202s. ``tally`` waits, within a bound, for every accepted call to
have run, then counts: accepted, ran, lost, ran twice. A run is counted by
the function itself: it posts its call id to the ``Receiver`` of
``tests.integration.processes`` (see ``function_spec``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import wait_for
from tests.integration.processes import FUNCTION, Receiver, Submitter, function_spec
from tests.proctree import Proc, alive, command, descendants
from tests.serve_process import ServeProcess

INFLIGHT = 4
# Short leases: a killed worker's calls come back within seconds.
WORKER_ENV = {
    "max_inflight": str(INFLIGHT),
    "ack_wait": "5s",
    "invoke_timeout": "20s",
    "grace_period": "5s",
}
GATEWAY = "pyfaas.gateway"
WORKER = "pyfaas.worker"
WRITER = "_sqlite_writer"
# Every tally's line, for the summary at the end of the run (see conftest).
LINES: list[str] = []


class Serve(ServeProcess):
    """``pyfaas serve`` with the crash suite's worker settings, and ways to kill parts of it."""

    def __init__(self, root: Path, home: Path | None = None, queue: str | None = None) -> None:
        super().__init__(root, home, queue, env=WORKER_ENV)

    def start(self, timeout: float = 90.0) -> Serve:
        super().start(timeout)
        return self

    def deploy_recorder(self, receiver: Receiver) -> None:
        """Deploy the function that reports each run to ``receiver``; wait until it is ready."""
        answer = self.api("POST", "/system/functions", json=function_spec(receiver))
        assert answer.status_code in (200, 202), answer.text
        try:
            wait_for(self.function_ready, timeout=90, interval=0.1)
        except AssertionError:
            raise AssertionError(f"{FUNCTION} never got ready:\n{self.output()[-3000:]}") from None

    def function_ready(self, name: str = FUNCTION) -> bool:
        return super().function_ready(name)

    def queue_idle(self) -> bool:
        """Nothing queued or running (dead letters are counted by the tally, not here)."""
        try:
            answer = self.api("GET", "/system/queue")
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        stats = answer.json()
        return int(stats["queued"]) + int(stats["running"]) == 0

    # -- the process tree --------------------------------------------------

    def find(self, mark: str, under: Proc | None = None) -> list[Proc]:
        """The living processes below serve (or below ``under``) whose command holds ``mark``."""
        self.tree()
        assert self.proc is not None
        root = under[0] if under else self.proc.pid
        return [p for p in descendants(root) if mark in command(p[0])]

    def one(self, mark: str) -> Proc:
        found = self.find(mark)
        assert len(found) == 1, f"{mark}: {found}"
        return found[0]

    def kill_serve(self, within: float = 15.0) -> list[str]:
        """SIGKILL serve itself; the command lines of processes below it still alive after."""
        assert self.proc is not None
        below = self.tree()
        self.proc.kill()
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + within
        left = [p for p in below if alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in left if alive(p)]
        return [f"{pid}: {command(pid)}" for pid, _ in left]

    def kill_component(self, mark: str) -> Proc:
        """SIGKILL the one process below serve whose command holds ``mark``, and wait for serve
        to have started another."""
        victim = self.one(mark)
        os.kill(victim[0], signal.SIGKILL)
        wait_for(lambda: not alive(victim), timeout=10)

        def replaced() -> bool:
            found = self.find(mark)
            return len(found) == 1 and found[0] != victim

        # serve waits 1 s (doubling while the child keeps dying) before the restart.
        wait_for(replaced, timeout=60, interval=0.05)
        if mark == GATEWAY:
            wait_for(self.healthy, timeout=60, interval=0.05)
        return victim

    def kill_writers(self) -> list[Proc]:
        """SIGKILL every SQLite writer below serve (the gateway's and the worker's)."""
        victims = self.find(WRITER)
        assert victims, "no SQLite writer is running"
        for victim in victims:
            os.kill(victim[0], signal.SIGKILL)
        wait_for(lambda: not any(alive(v) for v in victims), timeout=10)
        return victims


class Load:
    """Threads posting asynchronous calls to serve until stopped or ``cap`` are accepted."""

    def __init__(self, submitter: Calls, url: str, threads: int = 4, cap: int = 2000) -> None:
        self.submitter, self.url, self.cap = submitter, url, cap
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.submitter.accepted) < self.cap:
            if not self.submitter.submit(self.url):
                self._stop.wait(0.02)  # pace retries against a platform that is down

    @property
    def accepted(self) -> int:
        return len(self.submitter.accepted)

    def wait_accepted(self, count: int, timeout: float = 60.0) -> None:
        wait_for(lambda: self.accepted >= count, timeout=timeout, interval=0.02)

    def wait_refused(self, more: int, timeout: float = 60.0) -> None:
        base = self.submitter.failed
        wait_for(lambda: self.submitter.failed >= base + more, timeout=timeout, interval=0.02)

    @contextmanager
    def running(self) -> Iterator[Load]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=30)


class Calls(Submitter):
    """A ``Submitter`` that also hands back each answer's status and message.

    It keeps the calls refused for sure apart: a 503 without the call's
    ``X-Call-Id`` says the call was not stored, so it must never run (one
    that carries it says the queue could not tell: that call may run).
    """

    def __init__(self, callback_url: str) -> None:
        super().__init__(callback_url)
        self.refused: list[str] = []  # answered 503 without their X-Call-Id

    def submit(self, gateway_url: str, function: str = FUNCTION) -> bool:
        return self.post(gateway_url, function)[0] == 202

    def post(self, gateway_url: str, function: str = FUNCTION) -> tuple[int, str]:
        """Submit one call; (status, body), status 0 for no answer at all."""
        try:
            call_id, answer = self.attempt(gateway_url, function)
        except httpx.HTTPError as exc:
            with self._lock:
                self.failed += 1
            return 0, repr(exc)
        with self._lock:
            if answer.status_code == 202:
                assert answer.headers["X-Call-Id"] == call_id
                self.accepted.append(call_id)
            else:
                self.failed += 1
                if answer.status_code == 503 and "X-Call-Id" not in answer.headers:
                    self.refused.append(call_id)
        return answer.status_code, answer.text.strip()


def submit_all(submitter: Calls, url: str, count: int) -> None:
    """``count`` calls, every one answered 202 (the platform is up and idle)."""
    for _ in range(count):
        assert submitter.submit(url), "a submission to a healthy platform was refused"


@dataclass(frozen=True)
class Tally:
    accepted: int
    ran: int
    lost: int
    ran_twice: int
    refused: int
    ran_unaccepted: int  # stored although the caller never heard 202 (allowed)
    ran_refused: int  # ran although answered "not stored" (never allowed)
    strays: int  # ran although nobody submitted them (never allowed)

    def line(self, label: str) -> str:
        return (
            f"{label}: accepted {self.accepted}, ran {self.ran}, lost {self.lost},"
            f" ran twice {self.ran_twice} (refused {self.refused},"
            f" ran without a 202 {self.ran_unaccepted}, {self.ran_refused} of them refused)"
        )


def tally(
    submitter: Calls,
    receiver: Receiver,
    idle: Callable[[], bool],
    label: str,
    timeout: float = 90.0,
    note: str = "",
) -> Tally:
    """Wait up to ``timeout`` for every 202 to have run and the queue to be idle; count; print
    one line (``note`` at its end)."""
    accepted = set(submitter.accepted)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if accepted <= receiver.runs().keys() and idle():
            break
        time.sleep(0.1)
    runs = receiver.runs()
    attempted = set(submitter.attempted)
    counted = Tally(
        accepted=len(accepted),
        ran=len(accepted & runs.keys()),
        lost=len(accepted - runs.keys()),
        ran_twice=sum(1 for call_id, n in runs.items() if n > 1),
        refused=submitter.failed,
        ran_unaccepted=len(runs.keys() - accepted),
        ran_refused=len(runs.keys() & set(submitter.refused)),
        strays=len(runs.keys() - attempted),
    )
    line = counted.line(label) + (f"; {note}" if note else "")
    LINES.append(line)
    print(f"\n{line}")
    return counted


def assert_none_lost(counted: Tally, bound: int, logs: Sequence[str] = ()) -> None:
    """Nothing accepted lost, nothing run that was refused for sure or that nobody sent,
    and at most ``bound`` ran twice."""
    tail = "\n".join(text[-4000:] for text in logs)
    assert counted.lost == 0, f"{counted.lost} accepted calls never ran\n{tail}"
    assert counted.ran_refused == 0, f"{counted.ran_refused} calls answered 'not stored' ran"
    assert counted.strays == 0, "a call ran that nobody submitted"
    assert counted.ran_twice <= bound, f"{counted.ran_twice} ran twice (bound {bound})"
