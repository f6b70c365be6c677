"""Modules stay small enough to hold one role: none of the package's is over 400 lines.

The templates and the store's ready-made functions are users' code, not the
platform's, and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pyfaas"
LEFT_OUT = ("templates", "store")
MAX_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in LEFT_OUT
    ]


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in _modules()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines (split them along a seam): {long}"


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE.parent)}:{node.name}"] = length
    assert long == {}, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_walk_sees_the_package() -> None:
    assert len(_modules()) > 100
