"""The import graph of the herald package, read from its source with ``ast``: for the tests of
cycles (``test_imports.py``) and of layers (``test_layers.py``)."""

from __future__ import annotations

import ast
import itertools
import sys
from pathlib import Path

import herald

PACKAGE = Path(herald.__file__).parent

Graph = dict[str, dict[str, int]]
"""module → {imported herald module: line of the first such import}."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_paths() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: set[str]
) -> set[str]:
    """The herald modules an import statement loads, most specific: ``from herald.cli import
    apply`` loads ``herald.cli.apply``, ``from herald.cli.apply import command`` loads
    ``herald.cli.apply``, ``import herald.runs.pipeline`` loads ``herald.runs.pipeline``."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: resolved against the importer's package
            package = importer.split(".")[: None if is_package else -1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        names = [f"{base}.{alias.name}" for alias in node.names]
    found = set()
    for dotted in names:
        parts = dotted.split(".")
        prefixes = (".".join(parts[:end]) for end in range(len(parts), 0, -1))
        module = next((p for p in prefixes if p in modules), None)
        if module is not None and module != importer:
            found.add(module)
    return found


def import_graph() -> Graph:
    """Every import of one herald module by another: at module level, inside functions and
    under ``TYPE_CHECKING`` alike, since each is a dependency of the importer.

    An import names the most specific herald module it loads (``from herald.runs import
    pipeline`` is ``herald.runs.pipeline``). The parent packages Python initialises on the
    way are not edges: they are kept light instead (``import herald`` loads nothing heavy).
    Imports by ``importlib`` (the engine and destination registries) are not seen.
    """
    paths = module_paths()
    graph: Graph = {}
    for name, path in paths.items():
        edges = graph.setdefault(name, {})
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in imported(node, name, is_package, set(paths)):
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
    return graph


def strongly_connected(graph: Graph) -> list[list[str]]:
    """The groups of modules that import one another (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def shortest_cycle(graph: Graph, start: str, within: set[str]) -> list[str]:
    """The shortest import chain from ``start`` back to itself inside one group (BFS)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node]):
                if target == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(came_from[chain[-1]])
                    return [start, *reversed(chain[:-1]), start]
                if target in within and target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(start)  # unreachable: start is in a strongly connected group


def cycles(graph: Graph) -> list[str]:
    """Each import cycle as a chain ``a (a.py:12) → b (b.py:3) → a``, one per module in a
    group of modules that import one another, without repeats."""
    shown: list[str] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    for group in strongly_connected(graph):
        for start in group:
            chain = shortest_cycle(graph, start, set(group))
            steps = frozenset(itertools.pairwise(chain))
            if steps in seen:
                continue
            seen.add(steps)
            shown.append(
                " → ".join(f"{a} (line {graph[a][b]})" for a, b in itertools.pairwise(chain))
                + f" → {chain[-1]}"
            )
    return shown
