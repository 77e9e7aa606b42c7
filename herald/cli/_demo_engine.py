"""``herald demo --engine``: the engine the demo workspace runs on, and the lake Spark reads.

With ``--engine spark`` the demo database (DuckDB, generated as always) is exported to Parquet
under ``data/lake/<table>/``, and herald.toml's ``[engine]`` names Spark in local mode over those
folders (``[engine.tables]``). Each later write of the demo into its database (churn, the
simulated campaign effect and its removal) is exported again by :func:`refresh_lake`, so the
Spark tables hold what the database holds. ``--engine duckdb`` leaves a DuckDB workspace's
``[engine]`` as it is, and puts DuckDB back in a workspace the demo had set to Spark.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

from herald.atomic import atomic_file
from herald.config import DEFAULT_TOML
from herald.demo.generate import TABLES
from herald.demo.lake import export_tables
from herald.workspace import CONFIG_FILE, Workspace

ENGINES = ("duckdb", "spark")
LAKE = "data/lake"
"""The demo lake's folder, relative to the workspace."""
MASTER = "local[*]"
"""Spark on this machine, every core."""

_ENGINE_TABLE = re.compile(r"^\[engine(?:\.[^\]\n]+)?\].*\n(?:(?!\[).*\n?)*", re.MULTILINE)
"""``[engine]`` or ``[engine.NAME]`` (a comment may follow) and its lines, up to the next
table."""


def require_engine(engine: str) -> None:
    """Fail at once, in one line saying how to install it, when the engine's library is
    missing (before the demo generates anything).

    Raises:
        MissingDependencyError: PySpark is not installed.
    """
    if engine == "spark":
        from herald.engines.spark import require_pyspark

        require_pyspark()


def set_engine(root: Path, engine: str, database: str) -> None:
    """Write the ``[engine]`` of ``engine`` into the workspace's herald.toml: Spark over the
    demo lake, or DuckDB over ``database`` when the workspace was set to Spark."""
    config = root / CONFIG_FILE
    text = config.read_text(encoding="utf-8")
    current = tomllib.loads(text).get("engine", {}).get("name", "duckdb")
    if engine == "spark":
        table = spark_table()
    elif current == "spark":
        table = _default_engine_table(database)
    else:
        return  # a DuckDB workspace keeps its own settings (threads, memory limit…)
    new = _replace_engine(text, table)
    if new != text:
        with atomic_file(config) as out:
            out.write(new)


def spark_table() -> str:
    """The demo's ``[engine]`` for Spark: local mode, the lake's folders as its tables."""
    tables = "".join(f'{name} = "{LAKE}/{name}"\n' for name in sorted(TABLES))
    return (
        f'[engine]\nname = "spark"\nmaster = "{MASTER}"\n\n'
        f"[engine.tables]                          # the demo database, exported to Parquet\n"
        f"{tables}\n"
    )


def refresh_lake(ws: Workspace, tables: Iterable[str] | None = None) -> list[str]:
    """Export the demo database's ``tables`` (all when None) again into the demo lake, those
    of them the workspace's ``[engine.tables]`` reads from it; the tables exported.

    A workspace whose tables are elsewhere (or that has none) is left alone: the demo never
    writes over a lake it did not make.
    """
    lake = ws.resolve(LAKE)
    wanted = None if tables is None else set(tables)
    ours = [
        name
        for name, where in ws.settings.engine.tables.items()
        if ws.resolve(where) == lake / name and (wanted is None or name in wanted)
    ]
    if ours:
        export_tables(ws.database_path, lake, ours)
    return ours


def _default_engine_table(database: str) -> str:
    found = _ENGINE_TABLE.search(DEFAULT_TOML.format(database=database))
    assert found is not None  # the template starts with its [engine]
    return found.group(0)


def _replace_engine(text: str, table: str) -> str:
    """``text`` with its ``[engine]`` tables replaced by ``table`` (in the first one's place)."""
    first = _ENGINE_TABLE.search(text)
    if first is None:
        return f"{text.rstrip()}\n\n{table}"
    rest = _ENGINE_TABLE.sub("", text[first.end() :])
    return text[: first.start()] + table + rest
