"""bench/engines.py at a tiny size: the insights, the campaign build and the list diff give the
same answers on DuckDB and on Spark (the bench checks them every round), Spark's CPU time and
memory include its JVM, and the bench's snapshot check sees one recipient moved or a column of
another type."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from spark_engine import require_spark

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engines.py"


def bench(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *arguments],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_duckdb_and_spark_give_the_same_answers(demo_db: Path, tmp_path: Path) -> None:
    require_spark()
    out = tmp_path / "measures.json"
    done = bench("--database", str(demo_db), "--customers", "3000", "--rounds", "1",
                 "--no-report", "--json", str(out), timeout=380)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    found = json.loads(out.read_text())["3000"]["found"]
    for workload in ("insights", "campaign"):
        [duck], [spark] = found[workload]["duckdb"], found[workload]["spark"]
        assert duck["result"] == spark["result"]
        for side in (duck, spark):
            assert 0 < side["wall"] < side["command_wall"]
            assert 0 < side["cpu"] < side["command_cpu"]
            assert side["peak_rss"]["python"] > 50  # a process with DuckDB or PySpark in it
        assert "jvm" not in duck["peak_rss"]
        # Spark's work is done in its JVM, a child of the driver: measured with it.
        assert spark["peak_rss"]["jvm"] > 100
        assert spark["engine_start"] > duck["engine_start"]
    assert found["insights"]["duckdb"][0]["result"]["unique_customers"] > 0
    assert found["campaign"]["duckdb"][0]["result"] > 0  # recipients
    # The list diff: the same counts (the bench also compares the files); on Spark only the
    # changes came back.
    [duck], [spark] = found["diff"]["duckdb"], found["diff"]["spark"]
    assert duck["result"] == spark["result"]
    diff = duck["result"]
    changes = diff["adds"] + diff["updates"] + diff["removes"]
    assert 0 < changes < diff["desired"] / 4, diff
    back = spark["returned"]
    assert back["adds"] + back["updates"] + back["removes"] == changes + diff["settled"], back
    assert not (Path(spark["folder"]) / "desired.parquet").exists()
    assert "| 3,000 | campaign | Spark local[2] | query |" in done.stdout
    assert "Spark ÷ DuckDB" in done.stdout


def write_snapshot(path: Path, groups: list[str], control: str = "BOOLEAN") -> None:
    rows = ", ".join(
        f"('{i:04d}', 'West', '{group}', CAST({str(group.endswith('Control')).upper()} "
        f"AS {control}), 'p{i}@example.com')"
        for i, group in enumerate(groups)
    )
    with duckdb.connect() as con:
        con.execute(
            f'COPY (SELECT * FROM (VALUES {rows}) AS t(amperity_id, sub_audience, "group", '
            f"is_control, email)) TO '{path}' (FORMAT parquet)"
        )


def test_the_snapshot_check_sees_one_recipient_in_another_group_or_another_type(
    tmp_path: Path,
) -> None:
    groups = ["West A", "West B", "West Control", "West A"]
    a, b, c = tmp_path / "a.parquet", tmp_path / "b.parquet", tmp_path / "c.parquet"
    write_snapshot(a, groups)
    write_snapshot(b, [*groups[:3], "West B"])
    write_snapshot(c, groups, control="VARCHAR")

    def differences(one: Path, two: Path) -> int:
        done = bench("--side", "compare", "--db", str(one), "--out", str(two))
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["differences"])

    assert differences(a, a) == 0
    assert differences(a, b) == 2  # the row as it is in each, once each way
    assert differences(a, c) == -1  # is_control a string on one side
