"""Layers point one way (DESIGN §2), and destinations are plugins that only their own folder
and the registry name.

Ranks, lowest first: ``core`` and the exceptions; the foundations (redaction, atomic files, YAML,
the crash hook, the version); engines, the state store, the sandbox and the demo generator;
destinations; the definition services (settings, workspace, segments, campaigns, apply); the
run pipeline; the faces (CLI, web app, the package's front door). A module imports its own
rank or lower, never higher: so a destination never imports the pipeline, and the services
never import the pipeline that uses them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from import_graph import PACKAGE, import_graph, module_paths

from herald.destinations.registry import destination_types

RANKS: dict[str, int] = {
    "herald.core": 0,
    "herald.exceptions": 0,
    "herald.redact": 1,
    "herald.atomic": 1,
    "herald.yaml_loader": 1,
    "herald.crash": 1,
    "herald.logs": 1,
    "herald.actor": 1,
    "herald._version": 1,
    "herald.engines": 2,
    "herald.state": 2,
    "herald.sandbox": 2,
    "herald.demo": 2,
    "herald.destinations": 3,
    "herald.config": 4,
    "herald.alerts": 4,
    "herald.resources": 4,
    "herald.segments": 4,
    "herald.campaigns": 4,
    "herald.apply": 4,
    "herald.workspace": 4,
    "herald.runs": 5,
    "herald.cli": 6,
    "herald.web": 6,
    "herald.__main__": 6,
    "herald": 6,
}


def rank(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = RANKS.get(".".join(parts[:end]))
        if found is not None:
            return found
    raise AssertionError(f"{module} has no rank: add it to RANKS")


def test_every_module_has_a_rank() -> None:
    for module in module_paths():
        rank(module)


def upward(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every import of a higher rank than the importer's, for people."""
    return [
        f"{a} (rank {rank(a)}, line {line}) imports {b} (rank {rank(b)})"
        for a, edges in sorted(graph.items())
        for b, line in sorted(edges.items())
        if rank(b) > rank(a)
    ]


def test_imports_point_down() -> None:
    assert upward(import_graph()) == []


def test_an_upward_import_is_reported() -> None:
    # Guards the test above: a destination that imports the pipeline is found.
    graph = {"herald.destinations.klaviyo_api.sync": {"herald.runs.pipeline": 3}}
    assert upward(graph) == [
        "herald.destinations.klaviyo_api.sync (rank 3, line 3) imports herald.runs.pipeline "
        "(rank 5)"
    ]
    assert upward({"herald.runs.pipeline": {"herald.destinations.base": 9}}) == []


# --- destinations as plugins ----------------------------------------------------------------

TYPES = destination_types()
DESTINATIONS = PACKAGE / "destinations"


def _own_folder(path: Path) -> str | None:
    """The destination type whose folder holds ``path``, if any."""
    parts = path.relative_to(DESTINATIONS).parts if path.is_relative_to(DESTINATIONS) else ()
    return parts[0] if len(parts) > 1 and parts[0] in TYPES else None


def _docstrings(tree: ast.AST) -> set[int]:
    """Strings standing alone as statements: docstrings, and attribute docstrings."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _names(text: str, type_name: str, path: Path) -> bool:
    """Whether ``text`` holds ``type_name`` as a name of its own: not inside a longer name
    (``sftp_seconds``, ``klaviyo_sftp``), a module or file path (``herald.sandbox.sftp``,
    ``sandbox/sftp``) or a host name (``sftp.example.com``). The SFTP protocol's subsystem
    is called ``sftp``, as the generic type is: that exact string is the protocol's in the
    sandbox's SFTP server."""
    if text == type_name in PROTOCOL_NAMES and path.is_relative_to(PACKAGE / "sandbox"):
        return False
    return re.search(rf"(?<![\w./-]){re.escape(type_name)}(?![\w./-])", text) is not None


PROTOCOL_NAMES = frozenset({"sftp"})


def type_names(source: str, path: Path) -> list[str]:
    """Where code names a destination type other than its own folder's: a string (not a
    docstring) that is or holds a type's name, or an import of a type's package."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    own = _own_folder(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            named = [t for t in TYPES if t != own and _names(node.value, t, path)]
            found += [f"line {node.lineno}: {node.value!r}" for _ in named[:1]]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for module in modules:
                parts = module.split(".")
                theirs = len(parts) > 2 and parts[2] in TYPES and parts[2] != own
                if parts[:2] == ["herald", "destinations"] and theirs:
                    found.append(f"line {node.lineno}: imports {module}")
                    break
    return found


def test_only_a_destination_and_the_registry_name_its_type() -> None:
    registry = DESTINATIONS / "registry.py"
    named = {
        str(path.relative_to(PACKAGE)): hits
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != registry and "migrations" not in path.parts
        for hits in [type_names(path.read_text(encoding="utf-8"), path)]
        if hits
    }
    assert named == {}


@pytest.mark.parametrize(
    ("code", "hits"),
    [
        ('if kind.type == "klaviyo_api":\n    pass\n', 1),
        ('TEMPLATE = "[destinations.x]\\ntype = \\"csv_file\\""\n', 1),
        ("from herald.destinations.klaviyo_api.sync import sync_list\n", 1),
        ("from herald.destinations import base\n", 0),
        ('"""Sends to ``klaviyo_api`` lists."""\n', 0),
        ('if name == "klaviyo_sftp":\n    pass\n', 1),
        ('PATH = "herald.sandbox.sftp"\nSECONDS = "sftp_seconds"\n', 0),
        ("from herald.destinations.sftp.factory import SftpDestination\n", 1),
        ('if kind.type == "sftp":\n    pass\n', 1),
    ],
)
def test_type_names_finds_what_it_must(code: str, hits: int) -> None:
    assert len(type_names(code, PACKAGE / "runs" / "example.py")) == hits


def test_a_destination_may_name_its_own_type() -> None:
    own = DESTINATIONS / "csv_file" / "factory.py"
    assert type_names('TYPE = "csv_file"\n', own) == []
    assert type_names('OTHER = "klaviyo_api"\n', own) != []
