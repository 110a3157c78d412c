"""The import graph of kb/ and web/, read with ast: who imports whom, in layers, and any cycle.

    .venv/bin/python tools/import_graph.py            # the layers, lowest first
    .venv/bin/python tools/import_graph.py --edges    # every edge

Every import counts, those inside functions too (kb imports its heavy libraries there). An import
of a package's module is an edge to that module, not to the package's __init__. Each module is
placed one layer above the highest module it imports, so a module only ever imports from layers
below its own; a cycle would leave no such placing, and is printed instead. tests/test_layout.py
holds the graph to the rules below.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kb", "web")


def modules(root: Path = ROOT) -> dict[str, Path]:
    """{dotted name: file} for every module of the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """The names a module imports: our own modules in full, others' packages by their first part."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield _resolve(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package upward
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield _resolve(full if full in known else base, known)


def _resolve(name: str, known: set[str]) -> str:
    """Our own module, or a third-party package by its top-level name."""
    if name in known:
        return name
    top = name.split(".")[0]
    return name if top in PACKAGES else top


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """{module: the modules and third-party packages it imports}."""
    found = modules(root)
    known = set(found)
    return {
        name: {target for target in imported(path, name, known) if target != name}
        for name, path in found.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle among our own modules, each a path that returns to its start (none, we hope)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in edges:
                continue
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def layers(edges: dict[str, set[str]]) -> dict[str, int]:
    """Each module's layer: 0 if it imports none of ours, else one above the highest it imports."""
    placed: dict[str, int] = {}

    def layer(node: str) -> int:
        if node not in placed:
            below = [layer(target) for target in edges[node] if target in edges]
            placed[node] = 1 + max(below) if below else 0
        return placed[node]

    for node in edges:
        layer(node)
    return placed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="store_true", help="print every edge")
    args = parser.parse_args()
    edges = graph()
    loops = cycles(edges)
    if loops:
        for loop in loops:
            print("cycle: " + " -> ".join(loop))
        return 1
    if args.edges:
        for name in sorted(edges):
            ours = sorted(target for target in edges[name] if target in edges)
            print(f"{name}: {', '.join(ours) or '-'}")
        return 0
    placed = layers(edges)
    for level in range(max(placed.values()) + 1):
        print(f"{level}: {', '.join(sorted(name for name in placed if placed[name] == level))}")
    print(f"{len(edges)} modules, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
