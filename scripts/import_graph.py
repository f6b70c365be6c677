"""Prints which of pyfaas's parts import which: the graph the import contracts keep.

    .venv/bin/python scripts/import_graph.py [--root DIR] [--dot]

A part is a subpackage or a top-level module of ``pyfaas``; a line
``gateway -> queue (12)`` says twelve imports run from modules of the
gateway to modules of the queue library. ``--root`` reads another checkout
(an older tree, to compare); ``--dot`` prints Graphviz's format instead.
The imports are read by grimp, import-linter's own graph builder, so late
imports inside functions count as well.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import grimp


def _part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "(package)"


def edges(root: Path) -> Counter[tuple[str, str]]:
    """Imports between parts of the ``pyfaas`` package found under ``root``."""
    sys.path.insert(0, str(root))
    graph = grimp.build_graph("pyfaas", cache_dir=None)
    counts: Counter[tuple[str, str]] = Counter()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            source, target = _part(module), _part(imported)
            if source != target and "(package)" not in (source, target):
                counts[source, target] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--dot", action="store_true", help="print Graphviz's format")
    args = parser.parse_args()
    if not (args.root / "pyfaas" / "__init__.py").is_file():
        parser.error(f"no pyfaas package under {args.root}")
    counts = edges(args.root.resolve())
    if args.dot:
        print("digraph pyfaas {\n  rankdir=LR; node [shape=box];")
        for (source, target), n in sorted(counts.items()):
            print(f'  "{source}" -> "{target}" [label="{n}"];')
        print("}")
        return
    for (source, target), n in sorted(counts.items()):
        print(f"{source} -> {target} ({n})")


if __name__ == "__main__":
    main()
