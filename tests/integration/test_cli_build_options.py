"""``pyfaas build`` with build options: stack file and ``--build-option``, real venv, real pip.

The template is a Python one whose ``dev`` option asks for an OS package
(which pyfaas cannot install) and, in its ``pyfaas:`` section, for a Python
package: a wheel made by the test, so pip needs no network.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyfaas.cli.main import cli
from pyfaas.images import ImageStore
from pyfaas.paths import StatePaths

pytestmark = pytest.mark.integration


def make_wheel(directory: Path, name: str, source: str) -> Path:
    """A minimal pure-Python wheel holding module ``name``."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": source,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def project(tmp_path: Path, stack_options: str = "[dev]") -> Path:
    root = tmp_path / "project"
    wheel = make_wheel(tmp_path, "opt_extra", "VALUE = 'from the dev option'\n")
    template = root / "template" / "py-opt"
    (template / "function").mkdir(parents=True)
    (template / "template.yml").write_text(
        "language: py-opt\nfprocess: python3 index.py\n"
        "build_options:\n  - name: dev\n    packages: [libffi-dev]\n  - name: docs\n"
        f"pyfaas:\n  mode: classic\n  python: true\n"
        f"  build_options:\n    dev:\n      pip: ['{wheel}']\n"
    )
    (template / "index.py").write_text("import opt_extra\nprint(opt_extra.VALUE)\n")
    (root / "fn").mkdir()
    (root / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        f"  fn:\n    lang: py-opt\n    handler: ./fn\n    image: fn:latest\n"
        f"    build_options: {stack_options}\n"
    )
    return root


def build(tmp_path: Path, root: Path, *args: str) -> Result:
    env = {"PYFAAS_HOME": str(tmp_path / "home"), "OPENFAAS_CONFIG": str(tmp_path / "cfg")}
    argv = ["build", "-f", str(root / "stack.yml"), *args]
    return CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)


def test_stack_build_options_install_what_pip_can(tmp_path: Path) -> None:
    root = project(tmp_path)
    built = build(tmp_path, root, "--quiet")
    assert built.exit_code == 0, built.output + built.stderr
    notes = [line for line in built.stderr.splitlines() if "libffi-dev" in line]
    assert notes == [
        "  note: OS packages libffi-dev (build option dev) not installed: there is no "
        "container engine, so the host must provide them"
    ]
    store = ImageStore(StatePaths(tmp_path / "home").images)
    manifest = store.get("fn:latest")
    assert manifest is not None
    assert manifest.python is not None
    ran = subprocess.run(
        [manifest.python, "index.py"],
        cwd=store.root_dir("fn:latest") / "home" / "app",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.stdout == "from the dev option\n", ran.stderr


PROGRESS = ("Building fn...", "  ")


def test_unknown_and_strict_options_fail_in_one_line(tmp_path: Path) -> None:
    root = project(tmp_path, stack_options="[]")
    unknown = build(tmp_path, root, "-o", "mysql")
    assert unknown.exit_code == 1
    # The error is one line, the last; the build's plain progress lines come before it.
    assert [x for x in unknown.stderr.splitlines() if not x.startswith(PROGRESS)] == [
        "Error: build option 'mysql' is not defined by template py-opt (valid: dev, docs)"
    ]
    strict = build(tmp_path, root, "-o", "dev", "--strict-build-options")
    assert strict.exit_code == 1
    [line] = [x for x in strict.stderr.splitlines() if not x.startswith(PROGRESS)]
    assert line.startswith("Error: cannot build fn as asked: OS packages libffi-dev")
    # An option with no packages asks for nothing: strict or not, it builds.
    docs = build(tmp_path, root, "-q", "-o", "docs", "--strict-build-options")
    assert docs.exit_code == 0, docs.stderr
    assert "not installed" not in docs.stderr
