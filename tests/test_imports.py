"""How the package imports itself: ``import herald`` stays light, and no module imports
itself back through others (DESIGN §2: layers point one way)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from import_graph import cycles, import_graph, imported

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
