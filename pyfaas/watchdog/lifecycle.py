"""Health state and the lock file of one replica.

``starting`` until the runner can serve, ``ready`` while serving, ``draining``
after SIGTERM. The lock file (``$TMPDIR/.lock``) exists exactly while ready,
as the classic watchdog's Docker health check expects.
"""

from __future__ import annotations

import contextlib
import os
from typing import Literal

from pyfaas.watchdog.log import GoLog

State = Literal["starting", "ready", "draining"]


class Lifecycle:
    def __init__(self, lock_path: str | None, log: GoLog) -> None:
        self.state: State = "starting"
        self._lock_path = lock_path  # None: suppress_lock
        self._log = log

    @property
    def healthy(self) -> bool:
        return self.state == "ready"

    def ready(self) -> None:
        if self._lock_path is not None:
            self._log(f"Writing lock-file to: {self._lock_path}")
            with open(self._lock_path, "w", encoding="ascii"):
                pass
        self.state = "ready"

    def draining(self) -> None:
        self.state = "draining"
        if self._lock_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._lock_path)
