"""The public front door and the purity of core/."""

from __future__ import annotations

import ast
from pathlib import Path

import herald

CORE = Path(herald.__file__).parent / "core"
# core/ is pure domain logic: no I/O, engines, vendors or presentation (DESIGN §2).
BANNED = {
    "duckdb",
    "pyspark",
    "httpx",
    "paramiko",
    "sqlalchemy",
    "alembic",
    "click",
    "rich",
    "starlette",
    "uvicorn",
    "requests",
    "socket",
    "subprocess",
    "herald.engines",
    "herald.state",
    "herald.destinations",
    "herald.cli",
    "herald.workspace",
}


def test_all_names_resolve() -> None:
    for name in herald.__all__:
        assert hasattr(herald, name), name
    assert sorted(herald.__all__) == herald.__all__


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_impure() -> None:
    offenders = {}
    for path in CORE.rglob("*.py"):
        bad = {n for n in _imports(path) if any(n == b or n.startswith(b + ".") for b in BANNED)}
        if bad:
            offenders[str(path.relative_to(CORE))] = sorted(bad)
    assert offenders == {}


def test_core_has_modules_to_check() -> None:
    # Guards the purity test against walking an empty folder.
    assert len(list(CORE.rglob("*.py"))) >= 8
