"""Images as archives that travel: packed from one image store, unpacked into another.

An archive is a gzip-compressed tar of the image's directory (``image.json``,
``root/``, ``venv/``), made deterministic: entries sorted, mtimes and owners
zeroed, modes reduced to 0755/0644, hard links stored as copies, symlinks
kept (a venv's interpreter is one). The same image packs to the same bytes,
so the archive's sha256 names it: a gateway that already has a digest is not
sent it again. gzip at level 1 (docs/cluster.md has the figures that chose it).

Unpacking never trusts the archive: every member must be a directory, a
regular file or a symlink under ``image.json``, ``root/`` or ``venv/``, come
after its directory and not pass through a symlink; the first member must be
the manifest of the expected image, and the bytes must hash to the expected
digest before the image is committed (staged and swapped in as the builder
does). A venv is moved to its new path (``localise``), since a venv records it.

Each image directory keeps ``archive.json``, the digest it was packed to or
unpacked from, so a second push neither packs nor sends it again.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from pyfaas.errors import BadRequest
from pyfaas.images import MANIFEST, ImageManifest, ImageStore, normalise

RECORD = "archive.json"
TOP = ("image.json", "root", "venv")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
LEVEL = 1  # gzip level: see the module docstring
CHUNK = 1 << 20

# Makes a staged venv this host's (its interpreter, the platform's packages);
# passed in by the composition root, as the builder's functions are.
AdoptVenv = Callable[[Path], None]


class ArchiveError(BadRequest):
    """An archive that is not a well-formed image of the expected name and digest."""


class DigestMismatch(ArchiveError):
    pass


@dataclass(frozen=True)
class Packed:
    """An archive on disk, its digest (``sha256:<hex>``) and size in bytes."""

    path: Path
    digest: str
    size: int


def check_digest(text: str) -> str:
    if not DIGEST.match(text):
        raise BadRequest(f"digest {text!r} is not sha256:<64 hex digits>")
    return text


# -- the record of an image's digest ----------------------------------------------


def recorded(store: ImageStore, ref: str) -> tuple[str, int] | None:
    """The digest and size ``ref`` was last packed to or unpacked from, if known."""
    try:
        data = json.loads((store.path(ref) / RECORD).read_text())
        return str(data["digest"]), int(data["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(directory: Path, digest: str, size: int) -> None:
    temporary = directory / f".{RECORD}.tmp"
    temporary.write_text(json.dumps({"digest": digest, "size": size}))
    os.replace(temporary, directory / RECORD)


# -- packing ------------------------------------------------------------------------


class _Hashing:
    """A binary writer that hashes and counts what passes through it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()


def pack(store: ImageStore, ref: str, directory: Path) -> Packed:
    """Pack ``ref`` into a new file in ``directory``; records its digest in the image."""
    image = store.path(ref)
    if store.get(ref) is None:
        raise ArchiveError(f"image {normalise(ref)} is not in the image store {store.root}")
    handle, name = tempfile.mkstemp(prefix=".image-", suffix=".tar.gz", dir=directory)
    path = Path(name)
    try:
        with store.lock(ref), os.fdopen(handle, "wb") as raw:
            sink = _Hashing(raw)
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=sink, compresslevel=LEVEL, mtime=0)
            with gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for rel in _walk(image):
                    _add(tar, image, rel)
        packed = Packed(path, "sha256:" + sink.hash.hexdigest(), sink.size)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    # A store this user cannot write: the digest is computed again next time.
    with contextlib.suppress(OSError):
        _write_record(image, packed.digest, packed.size)
    return packed


def _walk(image: Path) -> Iterator[str]:
    """The image's entries, relative and sorted, directories before their contents."""
    for top in TOP:
        if not os.path.lexists(image / top):
            continue
        yield top
        if (image / top).is_dir() and not (image / top).is_symlink():
            yield from _walk_dir(image, top)


def _walk_dir(image: Path, rel: str) -> Iterator[str]:
    with os.scandir(image / rel) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        child = f"{rel}/{name}"
        yield child
        if stat.S_ISDIR(os.lstat(image / child).st_mode):
            yield from _walk_dir(image, child)


def _add(tar: tarfile.TarFile, image: Path, rel: str) -> None:
    path = image / rel
    info = os.lstat(path)
    member = tarfile.TarInfo(rel)
    member.mtime, member.uid, member.gid, member.uname, member.gname = 0, 0, 0, "", ""
    if stat.S_ISDIR(info.st_mode):
        member.type, member.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(member)
    elif stat.S_ISLNK(info.st_mode):
        member.type, member.mode, member.linkname = tarfile.SYMTYPE, 0o777, os.readlink(path)
        tar.addfile(member)
    elif stat.S_ISREG(info.st_mode):
        member.type, member.size = tarfile.REGTYPE, info.st_size
        member.mode = 0o755 if info.st_mode & 0o111 else 0o644
        with open(path, "rb") as source:
            tar.addfile(member, source)
    else:
        raise ArchiveError(f"cannot pack {rel}: not a file, directory or symlink")


# -- unpacking ----------------------------------------------------------------------


class _Reading:
    """A binary reader that hashes and counts what is read through it."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def unpack(
    store: ImageStore,
    ref: str,
    archive: Path,
    digest: str,
    adopt: AdoptVenv | None = None,
) -> ImageManifest:
    """Unpack ``archive`` as image ``ref`` into ``store``; ``ArchiveError`` if it is not one.

    The image replaces ``ref``'s only once the archive has hashed to ``digest``.
    """
    check_digest(digest)
    staging = store.stage(ref)
    try:
        with open(archive, "rb") as source:
            reader = _Reading(source)
            manifest = _extract(reader, staging, ref)
            reader.drain()
        found = "sha256:" + reader.hash.hexdigest()
        if found != digest:
            raise DigestMismatch(f"the archive's digest is {found}, not {digest}")
        localise(staging, manifest, store.path(ref), adopt)
        _write_record(staging, digest, reader.size)
        with store.lock(ref):
            store.commit(staging, manifest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _extract(reader: _Reading, staging: Path, ref: str) -> ImageManifest:
    dirs = {"root"}  # stage() made it
    manifest: ImageManifest | None = None
    try:
        with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]
            for member in tar:
                if manifest is None:
                    manifest = _read_manifest(tar, member, ref)  # commit() writes it
                    continue
                _extract_member(tar, member, staging, dirs)
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile, ValueError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"not an image archive: {exc}") from exc
    if manifest is None:
        raise ArchiveError("not an image archive: it is empty")
    return manifest


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo, ref: str) -> ImageManifest:
    if member.name != MANIFEST or not member.isreg():
        raise ArchiveError(
            f"not an image archive: its first entry is {member.name}, not {MANIFEST}"
        )
    source = tar.extractfile(member)
    assert source is not None  # a regular file
    try:
        manifest = ImageManifest.from_json(source.read(1 << 20).decode())
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"the archive's {MANIFEST} is not valid: {exc}") from exc
    if normalise(manifest.image) != normalise(ref):
        raise ArchiveError(f"the archive is image {manifest.image}, not {normalise(ref)}")
    return manifest


def _extract_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, staging: Path, dirs: set[str]
) -> None:
    rel = _safe_name(member.name)
    parent = rel.rpartition("/")[0]
    if parent and parent not in dirs:
        raise ArchiveError(f"archive entry {rel} comes before its directory, or under a link")
    target = staging / rel
    if member.isdir():
        if rel not in dirs:
            target.mkdir(mode=0o755)
            dirs.add(rel)
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.isreg():
        source = tar.extractfile(member)
        assert source is not None
        mode = 0o755 if member.mode & 0o111 else 0o644
        # O_EXCL: never through a symlink, never over an entry already written.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
    else:
        kind = "a hard link" if member.islnk() else "a device file or fifo"
        raise ArchiveError(f"archive entry {rel} is {kind}, which an image may not hold")


def _safe_name(name: str) -> str:
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or parts[0] not in TOP[1:]
        or "\0" in name
    ):
        raise ArchiveError(f"archive entry {name!r} is outside the image")
    return name


# -- a venv at its new path ------------------------------------------------------------


def localise(
    staging: Path, manifest: ImageManifest, final: Path, adopt: AdoptVenv | None = None
) -> None:
    """Make a staged image's venv work from ``final`` on this host.

    The venv names its image directory of the machine that built it (scripts'
    ``#!`` lines, ``pyvenv.cfg``); those become ``final``. Its interpreter must
    be this host's Python version; ``adopt`` then links it to this host's
    interpreter and packages.
    """
    if not manifest.python:
        return
    venv = staging / "venv"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not (venv / "lib" / version).is_dir():
        built = sorted(p.name for p in (venv / "lib").glob("python*")) or ["no Python"]
        raise ArchiveError(
            f"image {manifest.image} was built for {built[0]}, this host runs {version}"
        )
    old = str(Path(manifest.python).parent.parent.parent)
    new = str(final)
    if old != new:
        for path in [venv / "pyvenv.cfg", *sorted((venv / "bin").iterdir())]:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > 1 << 20:
                continue
            data = path.read_bytes()
            if old.encode() in data and b"\0" not in data:
                path.write_bytes(data.replace(old.encode(), new.encode()))
    manifest.python = str(final / "venv" / "bin" / "python")
    if adopt is not None:
        adopt(venv)


def adopt_here(venv: Path) -> None:
    """The ``AdoptVenv`` of a gateway: this host's interpreter and platform packages.

    The venv's interpreter link and ``pyvenv.cfg`` name the building machine's
    Python, and its platform ``.pth`` that machine's pyfaas; a host whose Python
    lives elsewhere (another prefix, another distribution) runs it with its own.
    """
    from pyfaas.builder import venv as pyvenv  # imported by the gateways that unpack

    base = pyvenv.base_interpreter()
    for link in (venv / "bin").iterdir():
        if link.is_symlink() and os.path.isabs(os.readlink(link)):
            link.unlink()
            link.symlink_to(base)
    config = venv / "pyvenv.cfg"
    lines = []
    for line in config.read_text().splitlines():
        key = line.partition("=")[0].strip()
        if key == "home":
            line = f"home = {base.parent}"
        elif key == "executable":
            line = f"executable = {base}"
        lines.append(line)
    config.write_text("\n".join(lines) + "\n")
    if (pyvenv.site_packages(venv) / pyvenv.PTH_NAME).exists():
        pyvenv.link_platform(venv)


__all__ = [
    "AdoptVenv",
    "ArchiveError",
    "DigestMismatch",
    "Packed",
    "adopt_here",
    "check_digest",
    "localise",
    "pack",
    "recorded",
    "unpack",
]
