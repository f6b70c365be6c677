"""``scripts/import_graph.py`` reads the graph the import contracts keep."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "import_graph.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_graph_has_the_parts_imports_and_none_between_processes() -> None:
    counts = _script().edges(ROOT)
    assert counts["gateway", "queue"] > 0
    assert counts["worker", "upstream"] > 0
    processes = {"gateway", "worker", "watchdog", "serve"}
    assert not [e for e in counts if e[0] in processes and e[1] in processes]
    assert counts["client", "queue"] == 0


def test_a_root_without_the_package_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["import_graph.py", "--root", str(ROOT / "docs")])
    with pytest.raises(SystemExit) as exited:
        _script().main()
    assert exited.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .endswith(f"no pyfaas package under {ROOT / 'docs'}")
    )
