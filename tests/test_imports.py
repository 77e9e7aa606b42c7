"""How the package imports itself: ``import herald`` stays light, and no module imports
itself back through others (DESIGN §2: layers point one way)."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import herald

PACKAGE = Path(herald.__file__).parent
# What `import herald` must not load: engines, the state store and vendor libraries load when
# a name that needs them is first used.
HEAVY = ("duckdb", "sqlalchemy", "alembic", "phonenumbers", "pyarrow", "httpx", "pydantic")

Graph = dict[str, dict[str, int]]
"""module → {imported herald module: line of the first such import}."""


def loaded_after(code: str) -> set[str]:
    """The top-level names in ``sys.modules`` after ``code`` runs in a fresh interpreter."""
    script = (
        f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return set(done.stdout.split())


def test_import_herald_loads_no_engine_store_or_vendor_library() -> None:
    assert sorted(set(HEAVY) & loaded_after("import herald")) == []


def test_a_public_name_loads_what_it_needs() -> None:
    # Guards the test above against a `loaded_after` that never sees anything.
    assert {"duckdb", "pyarrow"} <= loaded_after("import herald; herald.run_campaign")


def test_the_lazy_names_are_the_names_type_checkers_see() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    declared = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert declared == herald._LAZY
    assert set(declared) <= set(herald.__all__)


def test_herald_help_loads_no_engine_store_or_vendor_library() -> None:
    code = "import sys; from herald.cli.main import main; sys.argv[0] = 'herald'\n" + (
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert sorted(set(HEAVY) & loaded_after(code)) == []


# --- the import graph ---------------------------------------------------------------------


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


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles:\n" + "\n".join(found)


def test_the_graph_sees_every_kind_of_import() -> None:
    # Guards the cycle test against a graph that misses imports.
    graph = import_graph()
    assert len(graph) >= 100
    assert "herald.engines.base" in graph["herald.workspace"]  # inside a function
    assert "herald.state" in graph["herald.segments"]  # under TYPE_CHECKING
    assert "herald.workspace" in graph["herald"]


def test_an_import_names_the_module_it_loads() -> None:
    modules = {"herald", "herald.cli", "herald.cli.apply", "herald.runs", "herald.runs.pipeline"}

    def loads(code: str, importer: str = "herald.runs.pipeline") -> set[str]:
        node = ast.parse(code).body[0]
        assert isinstance(node, ast.Import | ast.ImportFrom)
        return imported(node, importer, importer in {"herald", "herald.cli"}, modules)

    assert loads("from herald.cli import apply, Name") == {"herald.cli.apply", "herald.cli"}
    assert loads("from herald.cli.apply import command") == {"herald.cli.apply"}
    assert loads("import herald.cli.apply, json") == {"herald.cli.apply"}
    assert loads("from herald import __version__") == {"herald"}
    assert loads("from . import pipeline, apply") == {"herald.runs"}  # itself left out
    assert loads("from ..cli import apply") == {"herald.cli.apply"}
    assert loads("from .apply import command", importer="herald.cli") == {"herald.cli.apply"}


def test_a_cycle_is_reported_as_a_chain() -> None:
    graph: Graph = {"a": {"b": 3}, "b": {"c": 5}, "c": {"a": 7, "d": 1}, "d": {}}
    assert cycles(graph) == ["a (line 3) → b (line 5) → c (line 7) → a"]
    assert cycles({"a": {"b": 1}, "b": {}}) == []
