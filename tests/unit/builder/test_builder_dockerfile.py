"""Building dockerfile functions into a real image store on disk."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pyfaas.builder.builder import build_function
from pyfaas.builder.templates import new_handler
from pyfaas.errors import BadRequest
from pyfaas.images import ImageStore


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def _long_task(project: Path, fprocess: str = "sleep 1") -> Path:
    handler = new_handler("long-task", "dockerfile", project)
    dockerfile = handler / "Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text().replace('ENV fprocess="cat"', f'ENV fprocess="{fprocess}"')
    )
    return handler


def test_lab_long_task(tmp_path: Path, store: ImageStore) -> None:
    handler = _long_task(tmp_path)
    lines: list[str] = []
    manifest = build_function(
        "long-task", "dockerfile", handler, "me/long-task:latest", tmp_path, store,
        progress=lines.append,
    )  # fmt: skip
    assert manifest.mode == "classic"
    assert manifest.fprocess == "sleep 1"
    assert manifest.env == {"write_debug": "false"}
    assert manifest.workdir == "/home/app"
    assert store.get("docker.io/me/long-task") == manifest
    assert (store.root_dir("me/long-task") / "home" / "app").is_dir()
    # faas-cli's layout: the handler folder is the build context.
    assert (tmp_path / "build" / "long-task" / "Dockerfile").is_file()
    assert any("RUN addgroup" in n for n in manifest.notes)
    assert any(line.startswith("Note: RUN addgroup") for line in lines)
    assert lines[-1] == "Image: me/long-task:latest built."


def test_copy_and_fprocess_override(tmp_path: Path, store: ImageStore) -> None:
    handler = tmp_path / "fn"
    (handler / "bin").mkdir(parents=True)
    (handler / "bin" / "run.sh").write_text("echo hi\n")
    (handler / "data.txt").write_text("data")
    (handler / "Dockerfile").write_text(
        "FROM alpine\nWORKDIR /srv\nCOPY bin ./tools/\nCOPY data.txt /etc/fn.conf\n"
        'ENV fprocess="sh tools/run.sh" mode=http upstream_url=http://127.0.0.1:9000\n'
    )
    manifest = build_function(
        "fn", "dockerfile", handler, "fn", tmp_path, store,
        fprocess="sh other.sh", environment={"EXTRA": "1"},
    )  # fmt: skip
    root = store.root_dir("fn")
    assert (root / "srv" / "tools" / "run.sh").read_text() == "echo hi\n"
    assert (root / "etc" / "fn.conf").read_text() == "data"
    assert manifest.mode == "http"
    assert manifest.fprocess == "sh other.sh"
    assert manifest.env == {"upstream_url": "http://127.0.0.1:9000", "EXTRA": "1"}
    assert manifest.workdir == "/srv"


def test_copy_outside_the_context_is_refused(tmp_path: Path, store: ImageStore) -> None:
    handler = tmp_path / "fn"
    handler.mkdir()
    (tmp_path / "secret").write_text("x")
    (handler / "Dockerfile").write_text("FROM alpine\nCOPY ../../secret /\n")
    with pytest.raises(BadRequest, match="outside the build context"):
        build_function("fn", "dockerfile", handler, "fn", tmp_path, store)
    assert store.get("fn") is None
    assert list(store.root.iterdir()) == []  # no staging left behind


def test_failed_rebuild_keeps_the_old_image(tmp_path: Path, store: ImageStore) -> None:
    handler = _long_task(tmp_path)
    build_function("long-task", "dockerfile", handler, "lt", tmp_path, store)
    (handler / "Dockerfile").write_text("FROM alpine\nNONSENSE here\n")
    with pytest.raises(BadRequest, match="unknown instruction NONSENSE"):
        build_function("long-task", "dockerfile", handler, "lt", tmp_path, store)
    manifest = store.get("lt")
    assert manifest is not None
    assert manifest.fprocess == "sleep 1"


def test_rebuild_replaces_atomically(tmp_path: Path, store: ImageStore) -> None:
    handler = _long_task(tmp_path, "cat")
    (handler / "old.txt").write_text("old")
    (handler / "Dockerfile").write_text((handler / "Dockerfile").read_text() + "COPY . .\n")
    build_function("long-task", "dockerfile", handler, "lt", tmp_path, store)
    seen: set[str | None] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            manifest = store.get("lt")
            seen.add(manifest.fprocess if manifest else None)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        (handler / "old.txt").unlink()
        for fprocess in ("sleep 1", "sleep 2", "sleep 3"):
            text = (handler / "Dockerfile").read_text()
            (handler / "Dockerfile").write_text(text.replace("fprocess=", "X=", 1))
            (handler / "Dockerfile").write_text(
                (handler / "Dockerfile").read_text() + f'ENV fprocess="{fprocess}"\n'
            )
            build_function("long-task", "dockerfile", handler, "lt", tmp_path, store)
    finally:
        stop.set()
        reader.join()
    assert None not in seen  # a reader never found the image missing
    manifest = store.get("lt")
    assert manifest is not None
    assert manifest.fprocess == "sleep 3"
    assert not (store.root_dir("lt") / "home" / "app" / "old.txt").exists()
    assert len(list(store.root.glob("*/image.json"))) == 1


def test_missing_handler_or_dockerfile(tmp_path: Path, store: ImageStore) -> None:
    with pytest.raises(Exception, match="not found"):
        build_function("fn", "dockerfile", tmp_path / "nope", "fn", tmp_path, store)
    (tmp_path / "fn").mkdir()
    with pytest.raises(BadRequest, match="no Dockerfile"):
        build_function("fn", "dockerfile", tmp_path / "fn", "fn", tmp_path, store)
