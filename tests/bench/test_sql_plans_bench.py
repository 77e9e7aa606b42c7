"""bench/sql_plans.py at a tiny size: Herald's insights and campaign build and the hand-written
SQL give the same answers (the bench checks them row for row), and its identity check sees a
single recipient moved to another group."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "sql_plans.py"


def bench(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *arguments],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip


@pytest.mark.timeout(120)
def test_herald_and_the_hand_written_sql_give_the_same_answers(
    demo_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "measures.json"
    done = bench("--database", str(demo_db), "--customers", "3000", "--rounds", "1",
                 "--no-report", "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    measures = json.loads(out.read_text())
    found = measures["3000"]
    for workload in ("insights", "campaign"):
        [herald], [hand] = found[workload]["herald"], found[workload]["hand"]
        assert herald["result"] == hand["result"]
        for side in (herald, hand):
            assert side["wall"] > 0
            assert side["cpu"] > 0
            assert side["peak_rss_mb"] > 50  # a process with DuckDB in it
    assert found["insights"]["herald"][0]["result"]["unique_customers"] > 0
    assert found["campaign"]["herald"][0]["result"] > 0  # recipients
    assert found["campaign"]["herald"][0]["compile_wall"] > 0
    assert "Herald ÷ hand-written in CPU time" in done.stdout
    assert "| 3,000 | campaign | hand-written |" in done.stdout
    # EXPLAIN ANALYZE of each side: the hand-written campaign reads Customer_360 once.
    assert measures["profiles"]["campaign:hand"]["scans"]["Customer_360"] == 1
    assert measures["profiles"]["campaign:herald"]["operators"]
    assert "Where the time goes at 3,000 customers" in done.stdout


def write_snapshot(path: Path, groups: list[str]) -> None:
    rows = ", ".join(
        f"('{i:04d}', 'West', '{group}', {str(group.endswith('Control')).upper()}, "
        f"'p{i}@example.com', 'Ann', 'Lee', 'CA')"
        for i, group in enumerate(groups)
    )
    with duckdb.connect() as con:
        con.execute(
            f'COPY (SELECT * FROM (VALUES {rows}) AS t(amperity_id, sub_audience, "group", '
            f'is_control, email, given_name, surname, "Customer_360.state")) '
            f"TO '{path}' (FORMAT parquet)"
        )


def test_the_identity_check_sees_one_recipient_in_another_group(tmp_path: Path) -> None:
    groups = ["West A", "West B", "West Control", "West A"]
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_snapshot(a, groups)
    write_snapshot(b, [*groups[:3], "West B"])

    def differences(one: Path, two: Path) -> int:
        done = bench("--side", "compare", "--db", str(one), "--out", str(two))
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["differences"])

    assert differences(a, a) == 0
    assert differences(a, b) == 2  # the row as it is in each, once each way
