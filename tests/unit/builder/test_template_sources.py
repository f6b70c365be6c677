"""Where templates come from (``REPO#REF``, local folders) and which ones pyfaas can run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.builder.pull import Source, find_entry, pull_templates
from pyfaas.builder.templates import (
    available_templates,
    check_runnable,
    copy_template,
    load_template,
)
from pyfaas.errors import BadRequest, NotFound


@pytest.mark.parametrize(
    ("repository", "url", "ref"),
    [
        ("https://github.com/openfaas/templates", "https://github.com/openfaas/templates", None),
        (
            "https://github.com/openfaas/templates#1.0",
            "https://github.com/openfaas/templates",
            "1.0",
        ),
        ("git@github.com:me/tpl.git#feature/x", "git@github.com:me/tpl.git", "feature/x"),
        ("file:///srv/tpl#", "file:///srv/tpl", None),
        ("  ./tpl  ", "./tpl", None),
    ],
)
def test_a_repository_and_its_pinned_ref(repository: str, url: str, ref: str | None) -> None:
    source = Source.parse(repository)
    assert (source.url, source.ref) == (url, ref)
    assert str(source) == (f"{url}#{ref}" if ref else url)


def test_only_an_existing_folder_is_local(tmp_path: Path) -> None:
    assert Source(str(tmp_path)).local_dir == tmp_path
    assert Source(str(tmp_path / "absent")).local_dir is None
    assert Source(tmp_path.as_uri()).local_dir is None
    with pytest.raises(BadRequest, match="names no repository"):
        Source.parse("#main")


def _template(root: Path, name: str, yml: str, dockerfile: str | None) -> Path:
    folder = root / "template" / name
    folder.mkdir(parents=True)
    (folder / "template.yml").write_text(yml)
    if dockerfile is not None:
        (folder / "Dockerfile").write_text(dockerfile)
    return folder


def test_a_local_folder_is_copied_without_git(tmp_path: Path) -> None:
    source = tmp_path / "src"
    _template(source, "one", "language: one\n", None)
    _template(source, "two", "language: two\n", None)
    (source / "template" / ".git").mkdir()
    (source / "template" / "NOTES.md").write_text("not a template\n")
    project = tmp_path / "project"
    result = pull_templates(str(source), project, only="two", git="no-such-git")
    assert (result.written, result.skipped) == (["two"], [])
    assert sorted(p.name for p in (project / "template").iterdir()) == ["two"]
    result = pull_templates(str(source), project, git="no-such-git")
    assert (result.written, result.skipped) == (["one"], ["two"])
    with pytest.raises(NotFound, match="has no template 'three' in its template/ folder"):
        pull_templates(str(source), project, only="three")
    with pytest.raises(NotFound, match="has no template/ folder"):
        pull_templates(str(project / "template"), project)


def test_store_entries_match_by_name_or_source_and_name() -> None:
    entries = [{"template": "go", "source": "openfaas"}, {"template": "node", "source": "acme"}]
    assert find_entry(entries, "acme/node", "store")["template"] == "node"
    assert find_entry(entries, "go", "store")["source"] == "openfaas"
    with pytest.raises(NotFound, match="store has no template 'rust'; it has: go, node"):
        find_entry(entries, "rust", "store")


def test_pyfaas_own_templates_all_run(tmp_path: Path) -> None:
    for name in available_templates():
        check_runnable(load_template(copy_template(name, tmp_path)))


@pytest.mark.parametrize(
    ("yml", "dockerfile"),
    [
        # A pyfaas: section says how to run it, whatever its Dockerfile does.
        ("language: x\npyfaas: {mode: classic}\n", "FROM node\nRUN npm i\n"),
        # Nothing in the Dockerfile needs an engine.
        ("language: x\n", 'FROM scratch\nCOPY . /srv\nENV fprocess="cat"\nRUN mkdir -p /tmp/x\n'),
        ("language: x\n", "FROM alpine\nRUN adduser -S app\nUSER app\n"),
    ],
)
def test_templates_pyfaas_can_run(tmp_path: Path, yml: str, dockerfile: str) -> None:
    check_runnable(load_template(_template(tmp_path, "x", yml, dockerfile)))


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (None, "template x has no Dockerfile and no pyfaas: section"),
        ("FROM node\nRUN npm i\nRUN npm test\n", r"needs RUN npm i \(line 2\) and 1 more step"),
        ("FROM go AS build\nFROM alpine\nCOPY --from=build /app /app\n", r"COPY --from=build"),
        ("FROM alpine\nADD https://example.invalid/x.tgz /\n", r"needs ADD https://"),
        ("RUN x\n", r"template x: Dockerfile: line 1: RUN before the first FROM"),
    ],
)
def test_templates_that_need_an_engine(
    tmp_path: Path, dockerfile: str | None, message: str
) -> None:
    spec = load_template(_template(tmp_path, "x", "language: x\n", dockerfile))
    with pytest.raises(BadRequest, match=message):
        check_runnable(spec)
