"""bench/results.py at a tiny size: the campaign is run, its results are timed in fresh
processes round after round, and they cover every customer of the audience with the window's
revenue to the cent; the rounds' check tolerates float jitter and nothing else."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "results.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_results", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def audience_and_revenue(db: Path, bench: ModuleType) -> tuple[int, Decimal]:
    """Hand-written: the customers in the bench's states, and their revenue in the window."""
    states = ", ".join(f"'{state}'" for state in bench.STATES)
    start = f"TIMESTAMP '{bench.LAUNCH}'"
    with duckdb.connect(str(db), read_only=True) as con:
        [(customers,)] = con.execute(
            f"SELECT count(*) FROM Customer_360 WHERE state IN ({states})"
        ).fetchall()
        [(revenue,)] = con.execute(
            f"""SELECT coalesce(sum(t.order_revenue), 0) FROM Unified_Transactions t
                JOIN Customer_360 c USING (amperity_id)
                WHERE c.state IN ({states}) AND t.order_datetime >= {start}
                  AND t.order_datetime < {start} + INTERVAL {bench.WINDOW_DAYS} DAY
                  AND t.order_datetime < TIMESTAMP '{bench.AS_OF}'"""
        ).fetchall()
    return int(customers), Decimal(revenue)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_bench_times_the_results_of_the_whole_audience(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "measures.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--database", str(demo_db), "--customers", "3000",
         "--rounds", "2", "--no-report", "--json", str(out)],
        capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr

    measures = json.loads(out.read_text())
    assert measures["prepared"]["run_id"].startswith("run_")
    rounds = measures["rounds"]
    assert len(rounds) == 2
    for found in rounds:
        assert found["wall"] > 0
        assert found["cpu"] > 0
        assert found["peak_rss_mb"] > 50  # a process with DuckDB in it
    groups = rounds[0]["groups"]
    assert [g["group"] for g in groups] == [
        f"{sub} {name}" for sub in ("VIP", "Others") for name in ("A", "B", "Control")
    ]
    customers, revenue = audience_and_revenue(demo_db, load_bench())
    assert customers > 0
    assert revenue > 0
    assert sum(g["recipients"] for g in groups) == customers
    assert sum(Decimal(g["revenue_total"]) for g in groups) == revenue
    assert all(g["lift"] is not None for g in groups if not g["is_control"])
    assert f"| {customers:,} |" in done.stdout
    assert "Target: ≤ 5 s (wall, median)" in done.stdout


def group(**changes: Any) -> dict[str, Any]:
    found = {
        "group": "VIP A",
        "is_control": False,
        "revenue_total": "1234.56",
        "recipients": 10,
        "revenue": 1234.56,
        "revenue_sq": 98765.4321,
        "lift": {"conversion": [0.01, -0.02, 0.04, 0.5], "revenue": [1.5, None, None, None]},
    }
    return {**found, **changes}


def test_rounds_agree_despite_float_jitter_and_not_otherwise() -> None:
    same = load_bench().same_results
    base = [group()]
    assert same(base, [group(revenue_sq=98765.4321 * (1 + 1e-13))])
    lift = {
        "conversion": [0.01 * (1 + 1e-12), -0.02, 0.04, 0.5],
        "revenue": [1.5, None, None, None],
    }
    assert same(base, [group(lift=lift)])
    assert not same(base, [group(recipients=11)])
    assert not same(base, [group(revenue_total="1234.57")])
    assert not same(base, [group(revenue=1234.57)])
    assert not same(base, [group(lift=None)])
    assert not same(base, [*base, group(group="VIP B")])
