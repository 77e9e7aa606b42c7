"""The Spark side of the parity suite: the same customer database on DuckDB and on Spark.

A test builds its database as a DuckDB file, as everywhere else; :func:`open_engine` opens it
with DuckDB, or exports every table to Parquet (a lake folder beside it) and opens that with
Herald's Spark engine in local mode. One JVM serves the whole test process; each engine gets a
session of its own (its own temporary views).

Without PySpark or Java the Spark cases skip, except in CI (``CI=true``), where they fail so
that a missing engine cannot hide a parity failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest

from herald.engines.base import Engine
from herald.engines.duckdb import DuckDBEngine

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
"""Parametrize a test over both engines: ``@pytest.mark.parametrize("kind", ENGINES)``."""

MASTER = "local[2]"


def require_spark() -> None:
    """Skip (fail in CI) when PySpark or Java is missing."""
    why = None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        why = "PySpark is not installed (pip install -e '.[test]')"
    if why is None and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        why = "Java is not installed (Spark needs Java 17 or later)"
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Spark parity tests cannot run in CI: {why}", pytrace=False)
        pytest.skip(why)


def export_lake(database: Path, folder: Path) -> dict[str, str]:
    """Every table of a DuckDB file as a folder of Parquet under ``folder``: name → location."""
    tables: dict[str, str] = {}
    with duckdb.connect(str(database), read_only=True) as con:
        names = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        for name in names:
            where = folder / name
            where.mkdir(parents=True, exist_ok=True)
            target = str(where / "part-0.parquet").replace("'", "''")
            con.execute(f"COPY \"{name}\" TO '{target}' (FORMAT parquet)")
            tables[name] = str(where)
    return tables


def spark_options(**extra: Any) -> dict[str, Any]:
    """The Spark engine's arguments for tests: local, two cores, small shuffles."""
    return {"master": MASTER, "options": {"spark.sql.shuffle.partitions": "1"}, **extra}


def lake_of(database: Path) -> dict[str, str]:
    """The tables of a DuckDB file as Parquet folders beside it (exported once): name → path."""
    lake = database.with_name(database.stem + "-lake")
    if not lake.exists():
        partial = lake.with_name(lake.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        export_lake(database, partial)
        partial.rename(lake)
    return {p.name: str(p) for p in sorted(lake.iterdir())}


def spark_twin(root: Path, database: Path) -> Path:
    """A copy of the workspace ``root`` (settings, state, so the same campaign ids and salts)
    whose engine is Spark over ``database`` exported to Parquet."""
    require_spark()
    twin = root.with_name(root.name + "-spark")
    shutil.copytree(root, twin)
    config = twin / "herald.toml"
    tables = "\n".join(f'{name} = "{path}"' for name, path in lake_of(database).items())
    engine = (
        f'[engine]\nname = "spark"\nmaster = "{MASTER}"\n\n'
        f'[engine.options]\n"spark.sql.shuffle.partitions" = "1"\n\n[engine.tables]\n{tables}\n'
    )
    text, found = re.subn(r"(?ms)^\[engine\]\n.*?(?=^\[)", engine + "\n", config.read_text())
    assert found == 1, "herald.toml has no [engine] section to replace"
    config.write_text(text)
    return twin


@contextmanager
def open_engine(kind: str, database: Path) -> Iterator[Engine]:
    """The database on DuckDB, or exported beside it and opened on Spark."""
    if kind == "duckdb":
        with DuckDBEngine(database) as engine:
            yield engine
        return
    require_spark()
    from herald.engines.spark import SparkEngine

    tables = lake_of(database)
    with SparkEngine(
        **spark_options(tables=tables, work_dir=database.with_name(database.stem + "-work"))
    ) as engine:
        yield engine
