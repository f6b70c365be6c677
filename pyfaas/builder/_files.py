"""File operations of a build: merging trees and carrying out a plan's COPY/ADD steps.

Every source path is resolved inside the build context and every destination
inside the image root, so a ``COPY ../../etc/passwd /`` or a symlink in the
context cannot reach outside either. What the context's ``.dockerignore``
excludes is not there for ``COPY`` and ``ADD``, as with ``docker build``.
"""

from __future__ import annotations

import glob
import os
import shutil
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

from pyfaas.builder._model import CopyStep, Plan
from pyfaas.builder.dockerignore import FILE_NAME as DOCKERIGNORE
from pyfaas.builder.dockerignore import DockerIgnore
from pyfaas.errors import BadRequest

# Entries faas-cli leaves out when it copies a handler into a build context.
SKIPPED_HANDLER_ENTRIES = frozenset({"build", "template"})


def merge_tree(
    src: Path,
    dst: Path,
    skip: Iterable[str] = (),
    *,
    ignore: DockerIgnore | None = None,
    rel: str = ".",
) -> None:
    """Copy the contents of ``src`` into ``dst``, replacing files that exist.

    ``skip`` names top-level entries to leave out. With ``ignore``, ``src`` is
    ``rel`` in a build context and what its ``.dockerignore`` excludes is left
    out; an excluded directory is still entered when a ``!`` exception may bring
    back something below it, and is created only if something is.
    """
    skipped = set(skip)
    if ignore is None or not ignore.excludes(rel):
        dst.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        if entry.name in skipped or entry.name == "__pycache__":
            continue
        target = dst / entry.name
        child = entry.name if rel == "." else f"{rel}/{entry.name}"
        excluded = ignore is not None and ignore.excludes(child)
        if entry.is_dir() and not entry.is_symlink():
            if not excluded or (ignore is not None and ignore.has_exceptions):
                merge_tree(entry, target, ignore=ignore, rel=child)
            continue
        if excluded:
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(entry, target, follow_symlinks=False)


def inside(root: Path, container_path: str) -> Path:
    """``root`` joined with an absolute container path, refusing escapes."""
    candidate = (root / container_path.lstrip("/")).resolve()
    base = root.resolve()
    if candidate != base and base not in candidate.parents:
        raise BadRequest(f"path {container_path!r} leaves the image")
    return candidate


def _context_sources(
    context: Path, pattern: str, ignore: DockerIgnore | None
) -> list[tuple[Path, str]]:
    """The context paths ``pattern`` names, each with its path relative to the context."""
    base = context.resolve()
    matches = sorted(glob.glob(str(base / pattern.lstrip("/")))) or []
    found = []
    for match in matches:
        path = Path(match).resolve()
        if path != base and base not in path.parents:
            raise BadRequest(f"COPY source {pattern!r} is outside the build context")
        found.append((path, os.path.relpath(match, base)))
    if not found:
        raise BadRequest(f"COPY source {pattern!r} not found in the build context")
    if ignore is None:
        return found
    # As Docker: an excluded path is not in the context at all (a directory may
    # still hold paths that a "!" exception brings back).
    kept = [
        (path, rel)
        for path, rel in found
        if not ignore.excludes(rel) or (path.is_dir() and ignore.has_exceptions)
    ]
    if not kept and not glob.has_magic(pattern):
        # A wildcard may well match only excluded paths; a named file may not.
        raise BadRequest(f"COPY source {pattern!r} is excluded by {DOCKERIGNORE}")
    return kept


def apply_plan(
    plan: Plan,
    context: Path,
    root: Path,
    progress: Callable[[str], None] = lambda _: None,
    ignore: DockerIgnore | None = None,
) -> None:
    """Create the plan's directories and copy its build-context files into ``root``,
    leaving out what ``ignore`` (the context's ``.dockerignore``) excludes."""
    for directory in plan.mkdirs:
        inside(root, directory).mkdir(parents=True, exist_ok=True)
    for step in plan.copies:
        _copy_step(step, context, root, ignore)
        progress(f"{'ADD' if step.add else 'COPY'} {' '.join(step.sources)} {step.dest}")


def _copy_step(step: CopyStep, context: Path, root: Path, ignore: DockerIgnore | None) -> None:
    sources = [s for pattern in step.sources for s in _context_sources(context, pattern, ignore)]
    dest = inside(root, step.dest)
    as_directory = step.dest.endswith("/") or len(sources) > 1 or dest.is_dir()
    for source, rel in sources:
        if source.is_dir():
            merge_tree(source, dest, ignore=ignore, rel=rel)
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
