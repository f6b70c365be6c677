"""File operations of a build: merging trees and carrying out a plan's COPY/ADD steps.

Every source path is resolved inside the build context and every destination
inside the image root, so a ``COPY ../../etc/passwd /`` or a symlink in the
context cannot reach outside either.
"""

from __future__ import annotations

import glob
import shutil
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

from pyfaas.build._model import CopyStep, Plan
from pyfaas.errors import BadRequest

# Entries faas-cli leaves out when it copies a handler into a build context.
SKIPPED_HANDLER_ENTRIES = frozenset({"build", "template"})


def merge_tree(src: Path, dst: Path, skip: Iterable[str] = ()) -> None:
    """Copy the contents of ``src`` into ``dst``, replacing files that exist."""
    skipped = set(skip)
    dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        if entry.name in skipped or entry.name == "__pycache__":
            continue
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink():
            merge_tree(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        shutil.copy2(entry, target, follow_symlinks=False)


def inside(root: Path, container_path: str) -> Path:
    """``root`` joined with an absolute container path, refusing escapes."""
    candidate = (root / container_path.lstrip("/")).resolve()
    base = root.resolve()
    if candidate != base and base not in candidate.parents:
        raise BadRequest(f"path {container_path!r} leaves the image")
    return candidate


def _context_sources(context: Path, pattern: str) -> list[Path]:
    base = context.resolve()
    matches = sorted(glob.glob(str(base / pattern.lstrip("/")))) or []
    found = []
    for match in matches:
        path = Path(match).resolve()
        if path != base and base not in path.parents:
            raise BadRequest(f"COPY source {pattern!r} is outside the build context")
        found.append(path)
    if not found:
        raise BadRequest(f"COPY source {pattern!r} not found in the build context")
    return found


def apply_plan(
    plan: Plan, context: Path, root: Path, progress: Callable[[str], None] = lambda _: None
) -> None:
    """Create the plan's directories and copy its build-context files into ``root``."""
    for directory in plan.mkdirs:
        inside(root, directory).mkdir(parents=True, exist_ok=True)
    for step in plan.copies:
        _copy_step(step, context, root)
        progress(f"{'ADD' if step.add else 'COPY'} {' '.join(step.sources)} {step.dest}")


def _copy_step(step: CopyStep, context: Path, root: Path) -> None:
    sources = [p for pattern in step.sources for p in _context_sources(context, pattern)]
    dest = inside(root, step.dest)
    as_directory = step.dest.endswith("/") or len(sources) > 1 or dest.is_dir()
    for source in sources:
        if source.is_dir():
            merge_tree(source, dest)
        elif step.add and tarfile.is_tarfile(source):
            dest.mkdir(parents=True, exist_ok=True)
            with tarfile.open(source) as archive:
                archive.extractall(dest, filter="data")
        elif as_directory:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / source.name)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path`` (faas-cli recreates ``build/<fn>`` each time)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
