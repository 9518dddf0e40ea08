"""The package's shape: subpackages import one way, no cycle, small files and functions, no copies.

Layers, from the top: `cli` -> `labelling` -> `serving` -> the training spine (modules at the
top of `tfbert/`) -> `encoder` (the fast forward pass) -> `tasks` (the problem types) ->
`tokenizers` and `scoring` (side by side: neither imports the other) -> `codepoints` (tensors of
code points) -> `base`. A module may import its own folder and the layers below it.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "tfbert"
LAYERS = {"cli": 4, "labelling": 3, "serving": 2, "": 1, "encoder": 0.75, "tasks": 0.5, "tokenizers": 0,
          "scoring": 0, "codepoints": -0.5, "base": -1}  # "": the spine
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60
MAX_FOLDER_LINES, MAX_FOLDER_FILES, MAX_SPINE_LINES = 1500, 12, 3000
SAME_LINES = 6


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _folder(module: str) -> str:
    """`tfbert.cli.train` -> "cli"; a spine module (`tfbert.train`) -> ""."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""


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


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _package_graph() -> dict[str, set[str]]:
    modules = {_module_name(p) for p in _package_files()}
    return {_module_name(p): (_imports(p) & modules) - {_module_name(p), "tfbert"}
            for p in _package_files()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
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


def _upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports that run from a lower layer to a higher one, or sideways to another folder."""
    def wrong(source: str, target: str) -> bool:
        up, down = LAYERS[_folder(target)], LAYERS[_folder(source)]
        return up > down or (up == down and _folder(target) != _folder(source))

    return [f"{source} -> {target}" for source, targets in sorted(graph.items())
            for target in sorted(targets) if wrong(source, target)]


def test_every_subpackage_has_a_layer():
    folders = {p.relative_to(PACKAGE).parts[0] for p in PACKAGE.iterdir()
               if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(LAYERS) - {""}


def test_no_import_cycle_among_tfbert_modules():
    cycle = _find_cycle(_package_graph())
    assert cycle is None, " -> ".join(cycle)


def test_imports_run_one_way_between_folders():
    graph = _package_graph()
    assert graph["tfbert.cli.train"] >= {"tfbert.config"}  # the graph sees subpackages
    assert _upward_imports(graph) == []


def test_checks_find_planted_faults():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _find_cycle(graph) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
    planted = {"tfbert.train": {"tfbert.serving.export"}, "tfbert.serving.export": {"tfbert.model"}}
    assert _upward_imports(planted) == ["tfbert.train -> tfbert.serving.export"]
    sideways = {"tfbert.scoring.report": {"tfbert.tokenizers.base", "tfbert.base.files"}}
    assert _upward_imports(sideways) == ["tfbert.scoring.report -> tfbert.tokenizers.base"]
    assert _repeated_blocks({"a.py": ["x = 1"] * 3 + [f"y{i}()" for i in range(6)],
                             "b.py": [f"y{i}()" for i in range(6)]}) == [("a.py", "b.py")]


def test_library_never_imports_the_benchmark_harness():
    for path in _package_files():
        bad = {name for name in _imports(path) if name.split(".")[0] == "benchmarks"}
        assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_files_and_functions_stay_small():
    for path in _package_files():
        assert _lines(path) <= MAX_FILE_LINES, f"{path.relative_to(REPO)} has {_lines(path)} lines"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= MAX_FUNCTION_LINES, \
                    f"{path.relative_to(REPO)}:{node.lineno} {node.name} has {length} lines"
    for path in (REPO / "benchmarks").rglob("*.py"):
        assert _lines(path) <= 700, f"{path.relative_to(REPO)} has {_lines(path)} lines"


def test_folders_stay_small():
    lines, files = defaultdict(int), defaultdict(int)
    for path in _package_files():
        folder = _folder(_module_name(path))
        lines[folder] += _lines(path)
        files[folder] += 1
    assert lines[""] < MAX_SPINE_LINES, f"the spine has {lines['']} lines"
    for folder in set(lines) - {""}:
        assert lines[folder] <= MAX_FOLDER_LINES, f"tfbert/{folder} has {lines[folder]} lines"
        assert files[folder] <= MAX_FOLDER_FILES, f"tfbert/{folder} has {files[folder]} files"


def _code_lines(text: str) -> list[str]:
    """Lines that carry code: no blank lines, comments, imports or lone brackets; spaces folded."""
    kept = []
    for line in text.splitlines():
        line = re.sub(r"\s+", " ", line.split(" # ")[0]).strip()
        if line and not line.startswith(("#", "import ", "from ")) and len(line.strip("()[]{},:")) > 0:
            kept.append(line)
    return kept


def _repeated_blocks(files: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Pairs of files (or a file with itself) that share `SAME_LINES` code lines in a row."""
    seen: dict[tuple[str, ...], str] = {}
    pairs = []
    for name, lines in files.items():
        for i in range(len(lines) - SAME_LINES + 1):
            window = tuple(lines[i:i + SAME_LINES])
            if window in seen and (seen[window], name) not in pairs:
                pairs.append((seen[window], name))
            seen.setdefault(window, name)
    return pairs


def test_no_block_of_code_is_written_twice():
    files = {str(p.relative_to(REPO)): _code_lines(p.read_text(encoding="utf-8"))
             for p in _package_files()}
    assert _repeated_blocks(files) == []
