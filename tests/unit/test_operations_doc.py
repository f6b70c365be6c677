"""Every setting a process reads, and every flag of ``serve`` and ``queue-worker``, has a row
in ``docs/operations.md``.

The settings are found in the source, not listed here: every environment
variable read by name in a module that parses settings (one that imports
``pyfaas._env``, or is named ``settings.py``), in the ``serve`` command's
modules and in the CLI's, read as ``env.<kind>("KEY", ...)``, as ``helper(env, "KEY", ...)``,
as ``environ.get("KEY")`` or through the helpers that read one named variable.
A variable counts as documented when a table row of the page starts with it
in backticks (`` | `KEY` | default | meaning | ``); a flag when a row's first
cell holds it (`` | `--port` | ... ``). A setting added without its row fails
here, and the failure names it, the module and the line that reads it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import click

from pyfaas.cli.queue_worker import queue_worker
from pyfaas.cli.serve import serve

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pyfaas"
DOC = ROOT / "docs" / "operations.md"
# Modules that read the environment without parsing settings: the serve command's,
# and the CLI's own variables.
OTHER_MODULES = ("cli/serve.py", "serve/__init__.py", "client/config.py", "cli/new.py")
# Helpers that read one named variable, by the variable they read.
HELPERS = {"namespace_setting": "function_namespace", "default_home": "PYFAAS_HOME"}
COMMANDS = {"pyfaas serve": serve, "pyfaas queue-worker": queue_worker}


@dataclass(frozen=True, order=True)
class Read:
    key: str
    where: str  # path below the repository, and line


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _text(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _key_of(call: ast.Call) -> str | None:
    """The variable a call reads by name, if it is one of the reading shapes."""
    func, args = call.func, call.args
    if isinstance(func, ast.Attribute) and _name(func.value) in {"env", "environ"} and args:
        return _text(args[0])  # env.duration("KEY", ...), os.environ.get("KEY")
    if len(args) >= 2 and _name(args[0]) in {"env", "environ"}:
        return _text(args[1])  # read_size(env, "KEY", ...), a module's own helper
    helper = _name(func)
    return HELPERS.get(helper) if helper is not None else None


def _reads_settings(path: Path, source: str) -> bool:
    rel = path.relative_to(PACKAGE).as_posix()
    return path.name == "settings.py" or "pyfaas._env" in source or rel in OTHER_MODULES


def settings_read() -> list[Read]:
    found: set[Read] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        if not _reads_settings(path, source):
            continue
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, ast.Call) and (key := _key_of(node)) is not None:
                found.add(Read(key, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return sorted(found)


def first_cells() -> set[str]:
    """The code spans in the first cell of every table row of the page."""
    cells: set[str] = set()
    for line in DOC.read_text().splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[\s|:-]+", line):
            first = line.split("|")[1]
            cells.update(re.findall(r"`([^`]+)`", first))
    return cells


def test_the_scan_finds_the_settings_it_must() -> None:
    # If the reading shapes change, the scan must change with them, not go blind.
    keys = {read.key for read in settings_read()}
    assert {"PYFAAS_PORT", "read_timeout", "ack_wait", "PYFAAS_SANDBOX", "fprocess"} <= keys
    assert {"PYFAAS_HOME", "function_namespace", "PYFAAS_QUEUE", "OPENFAAS_URL"} <= keys


def test_every_setting_read_has_a_row_in_operations_md() -> None:
    documented = first_cells()
    missing: dict[str, list[str]] = {}
    for read in settings_read():
        if read.key not in documented:
            missing.setdefault(read.key, []).append(read.where)
    lines = [f"  `{key}`: read at {', '.join(where)}" for key, where in sorted(missing.items())]
    assert not missing, (
        f"{len(missing)} setting(s) read in code have no row in docs/operations.md; add"
        " one for each to the settings table of the process that reads it, as"
        " | `NAME` | default | meaning |:\n" + "\n".join(lines)
    )


def test_every_flag_of_serve_and_queue_worker_has_a_row() -> None:
    documented = first_cells()
    missing = [
        f"  `{flag}` of {name}"
        for name, command in COMMANDS.items()
        for param in command.params
        if isinstance(param, click.Option)
        for flag in param.opts
        if flag.startswith("--") and flag not in documented
    ]
    assert not missing, (
        "flags with no row in docs/operations.md; add each to its command's table"
        " as | `--flag` | environment | default |:\n" + "\n".join(missing)
    )
