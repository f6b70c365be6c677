"""``COPY`` and ``ADD`` in real builds leave out what the function's ``.dockerignore`` excludes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.builder.builder import build_function
from pyfaas.errors import BadRequest
from pyfaas.images import ImageStore

IGNORE = """\
# secrets and junk stay out of the image
*.pyc
secret.env
logs
!logs/keep.log
**/node_modules
docs/*
!docs/README.md
Dockerfile
.dockerignore
"""

FILES = [
    "app.py",
    "a.pyc",
    "src/a.pyc",
    "secret.env",
    "logs/a.log",
    "logs/keep.log",
    "node_modules/x/y.js",
    "src/node_modules/z.js",
    "docs/README.md",
    "docs/other.md",
    "empty/",
]


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def _handler(project: Path, dockerfile: str, ignore: str | None = IGNORE) -> Path:
    handler = project / "fn"
    for name in FILES:
        path = handler / name
        if name.endswith("/"):
            path.mkdir(parents=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (handler / "Dockerfile").write_text(dockerfile)
    if ignore is not None:
        (handler / ".dockerignore").write_text(ignore)
    return handler


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _build(project: Path, store: ImageStore, dockerfile: str, ignore: str | None = IGNORE) -> Path:
    handler = _handler(project, dockerfile, ignore)
    build_function("fn", "dockerfile", handler, "fn", project, store)
    return store.root_dir("fn")


def test_copy_of_the_whole_context_skips_ignored_paths(tmp_path: Path, store: ImageStore) -> None:
    root = _build(tmp_path, store, "FROM alpine\nWORKDIR /home/app\nCOPY . .\nENV fprocess=cat\n")
    assert _tree(root / "home" / "app") == {
        "app.py",
        "src",
        "src/a.pyc",  # "*.pyc" is anchored at the context root
        "logs",
        "logs/keep.log",  # brought back by its exception
        "docs",
        "docs/README.md",
        "empty",
    }
    # faas-cli's build context itself is complete: only COPY filters.
    assert (tmp_path / "build" / "fn" / "secret.env").is_file()


def test_copy_of_a_folder_filters_by_its_path_in_the_context(
    tmp_path: Path, store: ImageStore
) -> None:
    root = _build(
        tmp_path, store, "FROM alpine\nCOPY logs /srv/logs/\nCOPY src /srv/src\nENV fprocess=cat\n"
    )
    assert _tree(root / "srv") == {"logs", "logs/keep.log", "src", "src/a.pyc"}


def test_globs_leave_out_ignored_matches(tmp_path: Path, store: ImageStore) -> None:
    root = _build(tmp_path, store, "FROM alpine\nCOPY *.py *.env *.pyc /srv/\nENV fprocess=cat\n")
    assert _tree(root / "srv") == {"app.py"}


def test_copy_of_an_ignored_file_fails_in_one_line(tmp_path: Path, store: ImageStore) -> None:
    with pytest.raises(BadRequest, match=r"'secret.env' is excluded by \.dockerignore"):
        _build(tmp_path, store, "FROM alpine\nCOPY secret.env /etc/\nENV fprocess=cat\n")


def test_without_a_dockerignore_everything_is_copied(tmp_path: Path, store: ImageStore) -> None:
    root = _build(tmp_path, store, "FROM alpine\nCOPY . /srv\nENV fprocess=cat\n", ignore=None)
    assert {"secret.env", "a.pyc", "logs/a.log", "Dockerfile", "node_modules/x/y.js"} <= _tree(
        root / "srv"
    )


def test_a_bad_pattern_stops_the_build(tmp_path: Path, store: ImageStore) -> None:
    with pytest.raises(BadRequest, match=r"\.dockerignore: bad pattern 'a\[' \(line 1\)"):
        _build(tmp_path, store, "FROM alpine\nCOPY . /srv\n", ignore="a[\n")
