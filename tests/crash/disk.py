"""A small file system of its own for a state directory, and filling it to the last byte.

``mount_tmpfs`` mounts a size-bounded tmpfs (root only) and says why not
where it cannot; ``full_for`` keeps a served platform's file system full for
a while, submitting calls against it, and hands back what it answered.
"""

from __future__ import annotations

import errno
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.crash.served import Calls

# A caller retrying a refused call every this many seconds: paced, not a busy loop.
RETRY_PAUSE = 0.05


def mount_tmpfs(mount_point: Path, size: str) -> str | None:
    """Mount a ``size`` tmpfs on ``mount_point``; None, or why it could not."""
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount_point)],
            capture_output=True,
            timeout=30,
        )
    except FileNotFoundError:
        return "no mount command"
    if done.returncode != 0:
        return f"mount -t tmpfs refused: {done.stderr.decode().strip()}"
    return None


def unmount(mount_point: Path) -> None:
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def fill(path: Path) -> int:
    """Write ``path`` until its file system has no byte left; how many were written."""
    written = 0
    with path.open("wb", buffering=0) as out:
        for size in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * size
            while True:
                try:
                    written += out.write(chunk) or 0
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


@dataclass
class FullSpell:
    accepted: int = 0  # calls that still got a 202 (SQLite may reuse pages it holds)
    refusals: list[tuple[int, str]] = field(default_factory=list)


def full_for(calls: Calls, url: str, filler: Path, seconds: float, refusals: int) -> FullSpell:
    """Fill the file system, submit against it for ``seconds`` (and ``refusals`` refusals,
    within a minute), then delete the filler."""
    fill(filler)
    spell = FullSpell()
    before = len(calls.accepted)
    since = time.monotonic()
    try:
        while time.monotonic() - since < 60 and (
            len(spell.refusals) < refusals or time.monotonic() - since < seconds
        ):
            status, text = calls.post(url)
            if status != 202:
                spell.refusals.append((status, text))
                time.sleep(RETRY_PAUSE)
    finally:
        filler.unlink()
    spell.accepted = len(calls.accepted) - before
    return spell
