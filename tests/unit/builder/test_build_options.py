"""Build options: resolving names to packages, and what a build does with them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.builder.builder import build_function
from pyfaas.builder.options import resolve
from pyfaas.builder.templates import copy_template, load_template
from pyfaas.errors import BadRequest
from pyfaas.images import ImageStore

DEV = ("automake", "g++", "gcc", "libffi-dev", "make", "musl-dev", "python3-dev")

# A template that runs its Dockerfile's fprocess and has options of both kinds.
SHELL_TEMPLATE = """\
language: shell
fprocess: sh handler.sh
build_options:
  - name: dev
    packages: [gcc, make]
  - name: tools
    packages: [curl, make]
pyfaas:
  mode: classic
  build_options:
    tools:
      pip: [httpie]
"""
SHELL_DOCKERFILE = """\
FROM alpine:3.22
ARG ADDITIONAL_PACKAGE
RUN apk add --no-cache ${ADDITIONAL_PACKAGE}
ENV ASKED_FOR="${ADDITIONAL_PACKAGE}"
WORKDIR /home/app
COPY function/ .
ENV fprocess="sh handler.sh"
"""


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def _shell_project(project: Path) -> Path:
    template = project / "template" / "shell"
    (template / "function").mkdir(parents=True)
    (template / "template.yml").write_text(SHELL_TEMPLATE)
    (template / "Dockerfile").write_text(SHELL_DOCKERFILE)
    handler = project / "fn"
    handler.mkdir()
    (handler / "handler.sh").write_text("cat\n")
    return handler


def test_an_option_is_its_packages_sorted_with_additional_package(tmp_path: Path) -> None:
    spec = load_template(copy_template("python3", tmp_path))
    options = resolve(spec, ["dev", "dev"], {"ADDITIONAL_PACKAGE": "zlib-dev gcc"})
    assert options.names == ("dev",)
    assert options.os_packages == tuple(sorted({*DEV, "zlib-dev"}))
    assert options.build_args({"X": "1"}) == {
        "X": "1",
        "ADDITIONAL_PACKAGE": " ".join(sorted({*DEV, "zlib-dev"})),
    }
    unmet = options.unmet()
    assert unmet is not None
    assert unmet.startswith("OS packages automake g++ gcc ")
    assert "(build option dev) not installed" in unmet


def test_no_options_asked_nothing_unmet(tmp_path: Path) -> None:
    spec = load_template(copy_template("python3-http", tmp_path))
    options = resolve(spec, [], {})
    assert options.unmet() is None
    assert options.build_args({}) == {}


def test_unknown_option_names_the_valid_ones(tmp_path: Path) -> None:
    spec = load_template(copy_template("python3", tmp_path))
    with pytest.raises(BadRequest, match=r"build option 'mysql' is not defined .*valid: dev"):
        resolve(spec, ["dev", "mysql"], {})
    dockerfile = load_template(copy_template("dockerfile", tmp_path))
    with pytest.raises(BadRequest, match="it defines none"):
        resolve(dockerfile, ["dev"], {})


def test_pip_packages_need_a_virtualenv(tmp_path: Path) -> None:
    _shell_project(tmp_path)
    spec = load_template(tmp_path / "template" / "shell")
    assert spec.pip_options == {"tools": ["httpie"]}
    options = resolve(spec, ["tools", "dev"], {})
    assert options.os_packages == ("curl", "gcc", "make")
    assert options.pip_packages == ("httpie",)
    assert options.installable_pip == ()
    unmet = options.unmet()
    assert unmet is not None
    assert "(build options tools, dev)" in unmet
    assert "pip packages httpie not installed: template shell has no virtualenv" in unmet


@pytest.mark.parametrize(
    "section",
    ["pyfaas: [a]", "pyfaas: {build_options: [dev]}", "pyfaas: {build_options: {dev: {pip: x}}}"],
)
def test_malformed_pyfaas_sections_are_refused(tmp_path: Path, section: str) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "template.yml").write_text(f"language: t\n{section}\n")
    with pytest.raises(BadRequest, match=r"template t/template\.yml: pyfaas"):
        load_template(tmp_path / "t")


def test_build_notes_what_it_cannot_install_and_goes_on(tmp_path: Path, store: ImageStore) -> None:
    handler = _shell_project(tmp_path)
    lines: list[str] = []
    manifest = build_function(
        "fn", "shell", handler, "fn", tmp_path, store, build_options=["dev"],
        progress=lines.append,
    )  # fmt: skip
    unmet = "OS packages gcc make (build option dev) not installed"
    assert manifest.notes[0].startswith(unmet)
    assert sum(unmet in line for line in lines) == 1
    # The template's Dockerfile sees ADDITIONAL_PACKAGE as faas-cli would pass it.
    assert manifest.env["ASKED_FOR"] == "gcc make"
    assert manifest.fprocess == "sh handler.sh"
    assert store.get("fn") is not None


def test_strict_build_fails_before_building(tmp_path: Path, store: ImageStore) -> None:
    handler = _shell_project(tmp_path)
    with pytest.raises(BadRequest, match=r"cannot build fn as asked: OS packages gcc make"):
        build_function(
            "fn", "shell", handler, "fn", tmp_path, store, build_options=["dev"],
            strict_build_options=True,
        )  # fmt: skip
    assert store.get("fn") is None
    assert not (tmp_path / "build" / "fn").exists()
    # Strict with nothing unmet builds.
    build_function("fn", "shell", handler, "fn", tmp_path, store, strict_build_options=True)
    assert store.get("fn") is not None
