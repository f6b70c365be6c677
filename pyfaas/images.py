"""The local image store: what ``pyfaas build`` produced, found by image reference.

An "image" here is a directory, not a container image: the files the build
put at their container paths (``root/home/app/...``), the image's own Python
virtualenv when it has one, and ``image.json``, a manifest saying how to run
it. The builder writes images; the local provider reads them. A build is
staged in a temporary directory and renamed into place, so a reader never
sees half an image.

References are normalised as Docker does: ``docker.io/library/figlet`` and
``figlet:latest`` name the same image.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MANIFEST = "image.json"

# Watchdog modes a manifest may ask for; see pyfaas.watchdog.
MODES = ("classic", "http", "inproc")

DEFAULT_WATCHDOG_IMAGES = ("functions/alpine", "ghcr.io/openfaas/alpine")


def normalise(ref: str) -> str:
    """``docker.io/library/x`` -> ``x:latest``; digests and tags are kept."""
    ref = ref.strip()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
    if ref.startswith("library/"):
        ref = ref[len("library/") :]
    last = ref.rsplit("/", 1)[-1]
    if "@" not in ref and ":" not in last:
        ref += ":latest"
    return ref


def repository(ref: str) -> str:
    """The reference without tag or digest."""
    ref = normalise(ref).split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def is_watchdog_base(ref: str, patterns: Iterable[str] = DEFAULT_WATCHDOG_IMAGES) -> bool:
    """True if ``ref`` is one of the OpenFaaS watchdog base images, any registry and tag.

    ``docker.io/functions/alpine:latest`` and ``myregistry:5000/functions/alpine:3.1``
    both match the pattern ``functions/alpine``.
    """
    repo = repository(ref)
    for pattern in patterns:
        want = repository(pattern)
        if repo == want or repo.endswith("/" + want):
            return True
        # A pattern with a registry also matches the same path on any registry.
        path = want.split("/", 1)[1] if "." in want.split("/", 1)[0] and "/" in want else None
        if path and (repo == path or repo.endswith("/" + path)):
            return True
    return False


@dataclass
class ImageManifest:
    """How to run an image; written by the builder, read by the provider."""

    image: str
    lang: str
    mode: str = "classic"
    fprocess: str | None = None
    # ENV from the Dockerfile or the template: watchdog settings included.
    env: dict[str, str] = field(default_factory=dict)
    # Container path of the working directory; root/<workdir> on disk.
    workdir: str = "/home/app"
    # Absolute path of the image's venv interpreter, when the image has one.
    python: str | None = None
    # inproc mode: "module:function" imported by the watchdog, e.g. "function.handler:handle".
    handler: str | None = None
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    # What a process runtime could not honour (RUN lines, USER, ...), said plainly.
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ImageManifest:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class ImageStore:
    """Images under one directory, keyed by a hash of the normalised reference."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def key(ref: str) -> str:
        return hashlib.sha256(normalise(ref).encode()).hexdigest()[:24]

    def path(self, ref: str) -> Path:
        return self.root / self.key(ref)

    def root_dir(self, ref: str) -> Path:
        """Where the image's files sit at their container paths."""
        return self.path(ref) / "root"

    def venv_dir(self, ref: str) -> Path:
        return self.path(ref) / "venv"

    def get(self, ref: str) -> ImageManifest | None:
        try:
            text = (self.path(ref) / MANIFEST).read_text()
        except FileNotFoundError:
            return None
        return ImageManifest.from_json(text)

    def list(self) -> list[ImageManifest]:
        out = []
        for manifest in sorted(self.root.glob(f"*/{MANIFEST}")):
            if manifest.parent.name.startswith(".") or manifest.parent.name.endswith(".old"):
                continue  # a build being staged or an image being replaced
            out.append(ImageManifest.from_json(manifest.read_text()))
        return out

    def stage(self, ref: str) -> Path:
        """A fresh staging directory for a build of ``ref``; ``commit`` moves it in place.

        Build into ``<stage>/root`` and ``<stage>/venv``. A venv must be built at
        its final path to work, so the builder creates it at ``venv_dir(ref)``
        through ``final_venv`` instead; see ``commit``.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.key(ref)}-", dir=self.root))
        (staging / "root").mkdir()
        return staging

    def commit(self, staging: Path, manifest: ImageManifest) -> Path:
        """Write the manifest and swap the staged image into place atomically.

        Where the kernel can exchange two directories in one step (Linux
        ``renameat2``), a reader sees either the old image or the new one,
        never neither; elsewhere there is a brief gap between two renames.
        """
        manifest.image = normalise(manifest.image)
        (staging / MANIFEST).write_text(manifest.to_json())
        final = self.path(manifest.image)
        venv = final / "venv"
        if venv.exists() and not (staging / "venv").exists() and manifest.python:
            # The venv was built in place (at venv_dir); it belongs to the new image.
            os.rename(venv, staging / "venv")
        if final.exists() and _exchange(staging, final):
            shutil.rmtree(staging, ignore_errors=True)  # now the old image
            return final
        old = final.with_name(final.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.rename(final, old)
        os.rename(staging, final)
        shutil.rmtree(old, ignore_errors=True)
        return final

    @contextmanager
    def lock(self, ref: str) -> Iterator[None]:
        """Hold an exclusive lock on ``ref`` across processes, e.g. for one build at a time."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{self.key(ref)}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove(self, ref: str) -> bool:
        path = self.path(ref)
        if not path.exists():
            return False
        shutil.rmtree(path)
        return True


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with ``renameat2``; False where that is unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))
