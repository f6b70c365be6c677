"""The import boundaries: one direction of imports, kept by import-linter's contracts.

The contracts live once, in ``pyproject.toml``'s ``[tool.importlinter]``:
the processes (gateway, queue-worker, watchdog, serve, CLI with its client
SDK) never import each other's modules, the SDK reaches the platform over
HTTP only, and the libraries and the base layer never import a component.
import-linter reads only ``import`` statements, so a module loaded by a string
(``importlib.import_module``, ``__import__``) is checked here instead.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import importlinter.api  # noqa: F401  (configures import-linter's adapters)
import pytest
from importlinter.application.use_cases import lint_imports

from tests.package_source import package_trees

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "pyfaas"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
COMPONENTS = {"gateway", "worker", "watchdog", "serve", "cli", "client"}

# String imports that are not of a pyfaas module, each with why.
LOADS_OTHER_CODE = {
    # The in-process runner imports the function's own handler (``index:handle``).
    "pyfaas/watchdog/runners/inproc.py",
}


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _named(contract: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for key in ("modules", "source_modules", "forbidden_modules", "layers"):
        for entry in contract.get(key, []):
            names.update(part.strip() for part in entry.replace(":", "|").split("|"))
    return names


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the ``pyfaas`` package under ``root``, with ``root``'s config."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    kept = lint_imports(config_filename=str(REPO / "pyproject.toml"), cache_dir=None, no_logo=True)
    report = capsys.readouterr().out
    # On failure the message is import-linter's: the contract and the import that breaks it.
    assert kept, report
    assert f"{len(_contracts())} kept, 0 broken" in report


def test_every_module_of_the_package_is_placed_by_a_contract() -> None:
    named = set().union(*(_named(c) for c in _contracts()))
    top = {f"pyfaas.{p.stem}" for p in PACKAGE.glob("*.py") if p.name != "__init__.py"} | {
        f"pyfaas.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py")
    }
    assert top - named == set(), (
        "a new module of pyfaas: name it as a component or a library"
        " in pyproject.toml's [tool.importlinter] contracts"
    )
    assert {f"pyfaas.{c}" for c in COMPONENTS} <= named


def test_every_component_is_forbidden_to_the_libraries() -> None:
    by_id = {c["id"]: c for c in _contracts()}
    libraries = by_id["libraries"]
    assert set(libraries["forbidden_modules"]) == {f"pyfaas.{c}" for c in COMPONENTS}
    assert set(libraries["source_modules"]).isdisjoint(libraries["forbidden_modules"])
    assert set(by_id["processes"]["modules"]) == {f"pyfaas.{c}" for c in COMPONENTS - {"client"}}


# Each a line added to a copy of the package, and the import the report must name.
LEAKS = [
    (
        "client/_models.py",
        "import pyfaas.queue.envelope",
        "pyfaas.client._models -> pyfaas.queue.envelope",
    ),
    (
        "queue/base.py",
        "import pyfaas.gateway.settings",
        "pyfaas.queue.base -> pyfaas.gateway.settings",
    ),
    (
        "gateway/calls.py",
        "import pyfaas.worker.settings",
        "pyfaas.gateway.calls -> pyfaas.worker.settings",
    ),
    (
        "cli/logs.py",
        "def _late() -> None:\n    import pyfaas.providers.base",
        "pyfaas.cli.logs -> pyfaas.providers.base",
    ),
    ("types.py", "import pyfaas.queue._json", "pyfaas.types -> pyfaas.queue._json"),
]


@pytest.mark.integration
@pytest.mark.parametrize(("where", "line", "reported"), LEAKS, ids=[leak[0] for leak in LEAKS])
def test_a_new_leak_breaks_a_contract(tmp_path: Path, where: str, line: str, reported: str) -> None:
    shutil.copytree(
        PACKAGE,
        tmp_path / "pyfaas",
        ignore=shutil.ignore_patterns("__pycache__", "templates", "store"),
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    target = tmp_path / "pyfaas" / where
    target.write_text(target.read_text() + f"\n{line}  # a leak\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert reported in result.stdout
    assert "BROKEN" in result.stdout


# -- imports by a string, which import-linter cannot see ----------------------

_LOADERS = {"import_module", "__import__", "run_module"}


def _loader_name(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name if name in _LOADERS else None


def _leading_text(node: ast.expr) -> str | None:
    """The literal start of a string or f-string argument; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def string_imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``(line, why)`` for each import by a string that could load a pyfaas module.

    A literal that names a module outside pyfaas is fine, and so is one
    relative to the caller's own package (``".name", __package__``), which
    cannot leave it; a computed name or one under ``pyfaas`` is reported.
    """
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _loader_name(node) is None or not node.args:
            continue
        text = _leading_text(node.args[0])
        if text is None:
            yield node.lineno, "a computed module name"
        elif text.startswith("pyfaas"):
            yield node.lineno, f"a pyfaas module by a string ({text!r}...)"
        elif text.startswith(".") and (text.startswith("..") or not _own_package(node)):
            yield node.lineno, "a relative name outside the caller's own package"


def _own_package(call: ast.Call) -> bool:
    package = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "package":
            package = keyword.value
    return isinstance(package, ast.Name) and package.id == "__package__"


def test_no_module_imports_a_pyfaas_module_by_a_string() -> None:
    found = []
    for path, tree in package_trees().items():
        where = path.relative_to(REPO).as_posix()
        if where in LOADS_OTHER_CODE:
            continue
        found += [f"{where}:{line}: {why}" for line, why in string_imports(tree)]
    assert found == [], "import it with an import statement (or pass it in):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'import importlib\nimportlib.import_module("pyfaas.builder.store")',
        'from importlib import import_module\nimport_module(f"pyfaas.{name}")',
        '__import__("pyfaas.gateway.app")',
        "import importlib\nimportlib.import_module(name)",
        'import importlib\nimportlib.import_module(f"{root}.worker")',
        'import importlib\nimportlib.import_module("..worker", __package__)',
        'import importlib\nimportlib.import_module(".app", "pyfaas.gateway")',
        'import runpy\nrunpy.run_module("pyfaas.serve")',
    ],
)
def test_a_string_import_of_pyfaas_is_found(source: str) -> None:
    assert [line for line, _ in string_imports(ast.parse(source))] == [source.count("\n") + 1]


@pytest.mark.parametrize(
    "source",
    [
        'import importlib\nimportlib.import_module(f".{module}", __package__)',
        'import importlib\nimportlib.import_module("yaml")',
        "import pyfaas.gateway.app",
    ],
)
def test_an_import_that_stays_visible_or_outside_is_not_reported(source: str) -> None:
    assert list(string_imports(ast.parse(source))) == []
