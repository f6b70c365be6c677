"""Image archives: deterministic packing, verified unpacking, refusals of what is not an image."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from pyfaas import image_archive
from pyfaas.image_archive import ArchiveError, DigestMismatch, pack, recorded, unpack
from pyfaas.images import ImageManifest, ImageStore

# A directory outside every image, where an archive's link points: made and
# emptied by the test (a fixed path, as the parameters are made at import).
OUTSIDE = os.path.join(tempfile.gettempdir(), f"pyfaas-archive-outside-{os.getpid()}")


def make_image(store: ImageStore, ref: str = "hello:latest", *, with_venv: bool = True) -> None:
    """An image as the builder leaves one: files at container paths, a venv, a manifest."""
    staging = store.stage(ref)
    home = staging / "root" / "home" / "app"
    (home / "function").mkdir(parents=True)
    (home / "function" / "handler.py").write_text("def handle(req):\n    return req\n")
    (home / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (home / "run.sh").chmod(0o755)
    (home / "link").symlink_to("run.sh")
    os.link(home / "run.sh", home / "hard")  # stored as a copy
    python = None
    if with_venv:
        venv = staging / "venv"
        (venv / "bin").mkdir(parents=True)
        site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        (site / "site-packages").mkdir(parents=True)
        final = store.path(ref)
        (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\ncommand = venv {final}/venv\n")
        (venv / "bin" / "tool").write_text(f"#!{final}/venv/bin/python\nprint(1)\n")
        (venv / "bin" / "python").symlink_to("/usr/bin/python3")
        python = str(final / "venv" / "bin" / "python")
    store.commit(staging, ImageManifest(image=ref, lang="python3", python=python))


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    store = ImageStore(tmp_path / "a" / "images")
    make_image(store)
    return store


def test_round_trip_keeps_files_modes_links_and_moves_the_venv(
    store: ImageStore, tmp_path: Path
) -> None:
    packed = pack(store, "hello", tmp_path)
    assert packed.digest == "sha256:" + hashlib.sha256(packed.path.read_bytes()).hexdigest()
    other = ImageStore(tmp_path / "b" / "images")
    manifest = unpack(other, "hello", packed.path, packed.digest)
    home = other.root_dir("hello") / "home" / "app"
    assert (home / "function" / "handler.py").read_text().startswith("def handle")
    assert os.access(home / "run.sh", os.X_OK)
    assert os.readlink(home / "link") == "run.sh"
    assert not (home / "hard").is_symlink()
    assert (home / "hard").read_text() == "#!/bin/sh\necho hi\n"
    # The venv names its new place, not the building store's.
    assert manifest.python == str(other.venv_dir("hello") / "bin" / "python")
    assert other.get("hello") is not None
    assert other.get("hello").python == manifest.python
    tool = (other.venv_dir("hello") / "bin" / "tool").read_text()
    assert tool.startswith(f"#!{other.path('hello')}/venv/bin/python")
    assert str(store.root) not in tool
    assert str(other.path("hello")) in (other.venv_dir("hello") / "pyvenv.cfg").read_text()
    assert os.readlink(other.venv_dir("hello") / "bin" / "python") == "/usr/bin/python3"
    # Both stores know the digest, so neither packs nor sends it again.
    assert recorded(store, "hello") == (packed.digest, packed.size)
    assert recorded(other, "hello") == (packed.digest, packed.size)


def test_the_same_image_packs_to_the_same_digest(store: ImageStore, tmp_path: Path) -> None:
    first = pack(store, "hello", tmp_path)
    os.utime(store.root_dir("hello") / "home" / "app" / "run.sh", (1, 1))  # mtimes do not count
    second = pack(store, "hello", tmp_path)
    assert first.digest == second.digest
    assert first.path != second.path
    with tarfile.open(first.path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == "image.json"
    assert names == ["image.json", *sorted(names[1:])]
    assert "archive.json" not in names
    assert {m.mtime for m in members} == {0}
    assert {m.uid for m in members} == {0}


def test_a_tampered_archive_is_refused_and_the_image_left_alone(
    store: ImageStore, tmp_path: Path
) -> None:
    packed = pack(store, "hello", tmp_path)
    other = ImageStore(tmp_path / "b" / "images")
    make_image(other, with_venv=False)
    before = other.get("hello")
    with pytest.raises(DigestMismatch, match="digest is sha256:"):
        unpack(other, "hello", packed.path, "sha256:" + "0" * 64)
    assert other.get("hello") == before
    assert [p.name for p in other.root.iterdir() if p.name.startswith(".") and p.is_dir()] == []


def test_an_archive_of_another_image_is_refused(store: ImageStore, tmp_path: Path) -> None:
    packed = pack(store, "hello", tmp_path)
    with pytest.raises(ArchiveError, match="is image hello:latest, not other:latest"):
        unpack(ImageStore(tmp_path / "b"), "other", packed.path, packed.digest)


def _archive(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    manifest = ImageManifest(image="evil:latest", lang="python3").to_json().encode()
    head = tarfile.TarInfo("image.json")
    head.size = len(manifest)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        tar.addfile(head, io.BytesIO(manifest))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path = tmp_path / "evil.tar.gz"
    path.write_bytes(buffer.getvalue())
    return path


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", link: str = ""
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([_member("../escape")], "outside the image"),
        ([_member("/etc/passwd")], "outside the image"),
        ([_member("root/../../x")], "outside the image"),
        ([_member("elsewhere/file")], "outside the image"),
        ([_member("root/dev", tarfile.CHRTYPE)], "device file"),
        ([_member("root/fifo", tarfile.FIFOTYPE)], "device file"),
        ([_member("root/hard", tarfile.LNKTYPE, link="/etc/passwd")], "hard link"),
        # A symlink to a directory outside (the test's own, made below), then a
        # file written through it.
        (
            [_member("root/out", tarfile.SYMTYPE, link=OUTSIDE), _member("root/out/x")],
            "under a link",
        ),
        ([_member("root/a/b")], "before its directory"),
        ([_member("image.json")], "outside the image"),
    ],
)
def test_archives_that_escape_or_hold_devices_are_refused(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], reason: str
) -> None:
    outside = Path(OUTSIDE)
    shutil.rmtree(outside, ignore_errors=True)
    outside.mkdir(parents=True)
    path = _archive(tmp_path, members)
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    target = ImageStore(tmp_path / "target")
    with pytest.raises(ArchiveError, match=reason):
        unpack(target, "evil", path, digest)
    assert target.get("evil") is None
    assert not (tmp_path / "escape").exists()
    assert not any(outside.iterdir())
    shutil.rmtree(outside)
    assert not any(p.is_dir() for p in target.root.iterdir())


def test_not_an_archive_and_no_manifest_first_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a tar at all" * 100)
    digest = "sha256:" + hashlib.sha256(junk.read_bytes()).hexdigest()
    with pytest.raises(ArchiveError, match="not an image archive"):
        unpack(ImageStore(tmp_path / "t"), "x", junk, digest)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info, _data = _member("root")
        info.type = tarfile.DIRTYPE
        info.size = 0
        tar.addfile(info)
    plain = tmp_path / "plain.tar"
    plain.write_bytes(buffer.getvalue())
    digest = "sha256:" + hashlib.sha256(plain.read_bytes()).hexdigest()
    with pytest.raises(ArchiveError, match=r"first entry is root, not image\.json"):
        unpack(ImageStore(tmp_path / "t"), "x", plain, digest)


def test_a_venv_of_another_python_is_refused(store: ImageStore, tmp_path: Path) -> None:
    staging = store.stage("py2")
    (staging / "venv" / "lib" / "python2.7").mkdir(parents=True)
    (staging / "venv" / "bin").mkdir()
    store.commit(
        staging,
        ImageManifest(
            image="py2", lang="python", python=str(store.venv_dir("py2") / "bin" / "python")
        ),
    )
    packed = pack(store, "py2", tmp_path)
    with pytest.raises(ArchiveError, match=r"built for python2\.7, this host runs python3"):
        unpack(ImageStore(tmp_path / "b"), "py2", packed.path, packed.digest)


def test_digests_must_be_sha256_hex() -> None:
    with pytest.raises(image_archive.BadRequest, match="sha256:<64 hex digits>"):
        image_archive.check_digest("md5:abc")
