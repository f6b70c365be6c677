"""Templates: the built-ins, copying them into a project, new handlers."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.builder.templates import (
    available_templates,
    copy_template,
    load_template,
    new_handler,
    template_store,
)
from pyfaas.errors import Conflict, InvalidName, NotFound


def test_three_builtin_templates() -> None:
    assert available_templates() == ["dockerfile", "python3", "python3-http"]


def test_template_store_lists_them_with_descriptions() -> None:
    entries = template_store()
    assert [e["template"] for e in entries] == available_templates()
    assert all(e["description"] for e in entries)


def test_copy_template_into_project(tmp_path: Path) -> None:
    target = copy_template("python3", tmp_path)
    assert target == tmp_path / "template" / "python3"
    spec = load_template(target)
    assert spec.fprocess == "python3 index.py"
    assert spec.mode == "classic"
    assert (target / "index.py").is_file()


def test_copy_template_keeps_local_edits_unless_overwrite(tmp_path: Path) -> None:
    target = copy_template("dockerfile", tmp_path)
    (target / "template.yml").write_text("language: dockerfile\n# edited\n")
    copy_template("Dockerfile", tmp_path)
    assert "edited" in (target / "template.yml").read_text()
    copy_template("dockerfile", tmp_path, overwrite=True)
    assert "edited" not in (target / "template.yml").read_text()


def test_dockerfile_skeleton_is_openfaas_shaped(tmp_path: Path) -> None:
    handler = new_handler("long-task", "dockerfile", tmp_path)
    assert handler == tmp_path / "long-task"
    text = (handler / "Dockerfile").read_text()
    for expected in ('ENV fprocess="cat"', 'ENV write_debug="false"', "EXPOSE 8080"):
        assert expected in text
    assert "HEALTHCHECK" in text
    assert 'CMD ["fwatchdog"]' in text


@pytest.mark.parametrize(
    ("lang", "files"),
    [
        ("python3", {"__init__.py", "handler.py", "requirements.txt"}),
        ("python3-http", {"handler.py", "handler_test.py", "requirements.txt", "tox.ini"}),
    ],
)
def test_python_skeletons(tmp_path: Path, lang: str, files: set[str]) -> None:
    handler = new_handler("fn", lang, tmp_path)
    assert {p.name for p in handler.iterdir()} == files


def test_new_handler_in_a_chosen_folder(tmp_path: Path) -> None:
    handler = new_handler("fn", "python3", tmp_path, handler_dir=Path("src/fn"))
    assert handler == tmp_path / "src" / "fn"
    assert (handler / "handler.py").is_file()


def test_new_handler_conflicts_on_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "fn").mkdir()
    with pytest.raises(Conflict, match="already exists"):
        new_handler("fn", "python3", tmp_path)


def test_new_handler_rejects_bad_names_and_unknown_templates(tmp_path: Path) -> None:
    with pytest.raises(InvalidName):
        new_handler("Bad_Name", "python3", tmp_path)
    with pytest.raises(NotFound, match="template 'cobol' not found"):
        new_handler("fn", "cobol", tmp_path)
