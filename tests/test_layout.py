"""The package's shape: imports flow one way, and the library never leans on its tools."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "tfbert"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from tfbert import train` imports the module tfbert.train
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _package_graph() -> dict[str, set[str]]:
    modules = {f"tfbert.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {f"tfbert.{p.stem}": _imports(p) & modules - {f"tfbert.{p.stem}"}
            for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target] if target in path else [node, target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_no_import_cycle_among_tfbert_modules():
    assert _find_cycle(_package_graph()) is None, " -> ".join(_find_cycle(_package_graph()))


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_library_never_imports_the_benchmark_harness():
    for path in PACKAGE.glob("*.py"):
        bad = {name for name in _imports(path) if name.split(".")[0] == "benchmarks"}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_no_module_outgrows_700_lines():
    for folder in ("tfbert", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            assert lines <= 700, f"{path.relative_to(REPO)} has {lines} lines"
