"""``herald demo --engine spark``: the same showcase on Spark in local mode, with DuckDB's results.

The demo exports its database to Parquet (``data/lake/``) and points the workspace's Spark
engine at it; whatever it writes into the database later (churn, the simulated campaign effect
and its removal) is exported again. The segments' insights, every run's recipients and the
lift measured over the simulated orders must equal those of the same demo on DuckDB.
"""

from __future__ import annotations

import itertools
import re
import sys
import tomllib
import uuid
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import ok, one_error_line, run
from spark_engine import require_spark

from herald.cli._demo_engine import LAKE, set_engine
from herald.config import DEFAULT_TOML
from herald.demo.generate import TABLES
from herald.state import _campaigns
from herald.workspace import Workspace

CUSTOMERS = "3000"
LOG = ["amperity_id", "sub_audience", "group", "is_control", "destination", "launch_date"]


def demo(root: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``herald demo`` on ``engine``, with the campaigns' split salts numbered from 1 (they
    are random uids): both demos split alike."""
    numbers = itertools.count(1)
    fixed = SimpleNamespace(uuid4=lambda: uuid.UUID(int=next(numbers)))
    with monkeypatch.context() as patched:
        patched.setattr(_campaigns, "uuid", fixed)
        return ok("demo", "--dir", str(root), "--engine", engine, "--customers", CUSTOMERS,
                  "--sandbox-port", "0", "--sftp-port", "0")  # fmt: skip


def step(out: str, number: int) -> str:
    """What step ``number`` printed, up to the next step (or the closing hints)."""
    text = out.split(f"\n{number}. ", 1)[1]
    return re.split(rf"\n(?:{number + 1}\. |Next: )", text, maxsplit=1)[0]


def runs(root: Path) -> list[tuple[str, Path]]:
    """Every delivered run's campaign and folder, oldest first."""
    with Workspace.open(root) as ws:
        return [(r.campaign, ws.runs_dir / r.id) for r in reversed(ws.store.list_runs())]


def rows(path: Path, columns: list[str] | None = None) -> list[tuple[object, ...]]:
    """The file's rows (of ``columns``, or all with their names first), sorted."""
    table = pq.read_table(path, columns=columns)
    found = sorted(zip(*(c.to_pylist() for c in table.columns), strict=True), key=repr)
    return found if columns else [tuple(table.column_names), *found]


def table_rows(con: duckdb.DuckDBPyConnection, query: str) -> pa.Table:
    return con.sql(f"SELECT * FROM {query} ORDER BY ALL").to_arrow_table()


@pytest.mark.spark
@pytest.mark.slow
def test_the_demo_on_spark_gives_duckdbs_insights_recipients_and_lift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_spark()
    on_duckdb = demo(tmp_path / "duckdb", "duckdb", monkeypatch)
    on_spark = demo(tmp_path / "spark", "spark", monkeypatch)
    root = tmp_path / "spark"

    config = tomllib.loads((root / "herald.toml").read_text())["engine"]
    assert config["name"] == "spark"
    assert config["tables"] == {t: f"{LAKE}/{t}" for t in TABLES}
    assert "exported to Parquet" in step(on_spark, 2)
    for number in (4, 9):  # the insights; the lift measured over the simulated orders
        assert step(on_spark, number) == step(on_duckdb, number)
    assert "Measured lift" in step(on_spark, 9)

    spark_runs, duckdb_runs = runs(root), runs(tmp_path / "duckdb")
    assert [c for c, _ in spark_runs] == [c for c, _ in duckdb_runs]
    assert len(spark_runs) == 3  # the campaign twice (before and after churn), both roads
    for (_, spark_run), (_, duckdb_run) in zip(spark_runs, duckdb_runs, strict=True):
        for name, columns in (("recipients.parquet", None), ("recipients_log.parquet", LOG)):
            assert rows(spark_run / name, columns) == rows(duckdb_run / name, columns), name

    # The lake holds what the database holds: churned customers in, simulated orders out.
    with duckdb.connect(str(root / "data" / "customers.duckdb"), read_only=True) as con:
        for table in TABLES:
            lake = f"read_parquet('{root / LAKE / table}/*.parquet')"
            assert table_rows(con, lake).equals(table_rows(con, f'"{table}"')), table
        [[simulated]] = con.execute(
            f"SELECT count(*) FROM read_parquet('{root / LAKE}/Unified_Transactions/*.parquet') "
            "WHERE order_id LIKE 'SIM-%'"
        ).fetchall()
    assert simulated == 0


def test_without_pyspark_the_spark_demo_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark fails
    root = tmp_path / "herald-demo"

    line = one_error_line(run("demo", "--dir", str(root), "--engine", "spark"))

    assert "pip install 'herald[spark]'" in line
    assert not root.exists()  # said before anything was made


def engine_text(root: Path) -> str:
    return (root / "herald.toml").read_text()


def test_the_spark_engine_is_written_once_and_duckdb_put_back(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root, database="data/customers.duckdb").close()
    original = engine_text(root)

    set_engine(root, "spark", "data/customers.duckdb")
    spark = engine_text(root)
    set_engine(root, "spark", "data/customers.duckdb")  # a demo run again

    assert engine_text(root) == spark
    with Workspace.open(root) as ws:
        assert ws.settings.engine.name == "spark"
        assert ws.settings.engine.master == "local[*]"
        assert ws.settings.engine.database is None  # the DuckDB file is the default's
        assert ws.database_path == root / "data" / "customers.duckdb"
        assert ws.engine_options()["tables"]["Unified_Transactions"] == str(
            root / LAKE / "Unified_Transactions"
        )
    set_engine(root, "duckdb", "data/customers.duckdb")
    assert engine_text(root) == original == DEFAULT_TOML.format(database="data/customers.duckdb")


def test_a_duckdb_workspace_keeps_its_own_engine_settings(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root, database="data/customers.duckdb").close()
    config = root / "herald.toml"
    database = 'database = "data/customers.duckdb"\n'
    config.write_text(config.read_text().replace(database, f"{database}threads = 2\n"))
    before = engine_text(root)
    assert "threads = 2" in before

    set_engine(root, "duckdb", "data/customers.duckdb")

    assert engine_text(root) == before
