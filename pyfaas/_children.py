"""Child processes that die with the process that started them.

Every long-lived child of the platform (the gateway and queue-worker of
``pyfaas serve``, the SQLite writers, the replicas, an http-mode function's
server) is started with ``preexec_fn=die_with_parent()``. Between fork and
exec the child asks the kernel for SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``), then checks that the parent did not die before the
request took effect. A ``kill -9`` (or the OOM killer) of any component thus
takes everything below it along, level by level, and a new ``pyfaas serve``
can start at once on the same port and state.

The kernel's "parent" is the *thread* that forked, not the process: a child
spawned from a thread that ends before it (a thread-pool worker) would be
killed with that thread. Every spawn site here runs on its event loop's
thread, which lives as long as the component; ``die_with_parent`` refuses
any other thread unless the caller waits for the child on that same thread
(``waited=True``).

The setting survives exec but not a change of user: a child that switches
user (``setpriv`` in the sandbox) relies on its sandbox instead, whose PID
namespace ends with bubblewrap's (see ``providers/local/sandbox.py``).
Elsewhere than Linux ``die_with_parent`` returns ``then`` unchanged.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1

ChildSetup = Callable[[], None]


def die_with_parent(then: ChildSetup | None = None, *, waited: bool = False) -> ChildSetup | None:
    """A ``preexec_fn`` that ties the child's life to this thread's, then runs ``then``.

    Call it in the parent, on the thread that spawns: it looks up ``prctl``
    and the parent's pid there, so the child runs as little Python as it can.
    ``waited``: the caller blocks on this thread until the child has exited.
    """
    if not sys.platform.startswith("linux"):
        return then
    if not waited:
        _check_thread()
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def setup() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        if then is not None:
            then()

    return setup


def _check_thread() -> None:
    if threading.current_thread() is threading.main_thread():
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "a long-lived child must be spawned from the main thread or an event loop's"
            " thread: PR_SET_PDEATHSIG would kill it when this thread ends"
        ) from None


__all__ = ["PR_SET_PDEATHSIG", "die_with_parent"]
