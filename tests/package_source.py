"""The package's modules parsed once per test run, for the tests that read the code itself.

The import boundaries (string imports), the settings table (fields nothing
reads) and whoever comes next walk the same syntax trees; parsing the
package takes about half a second, so it is done once and shared.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "pyfaas"


@functools.cache
def package_trees() -> dict[Path, ast.Module]:
    """Every module of ``pyfaas`` by path, in path order; read-only (shared by tests)."""
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}
