from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from herald.demo.churn import churn_customers


def employees(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT amperity_id FROM Customer_Attributes WHERE is_employee"
        ).fetchall()
    return {r[0] for r in rows}


def test_churn_flips_employees_both_ways(tmp_path: Path, demo_db: Path) -> None:
    db = tmp_path / "c.duckdb"
    shutil.copy(demo_db, db)
    before = employees(db)
    churn = churn_customers(db, share=0.05, seed=3)
    after = employees(db)
    assert len(after - before) == churn.became_employees > 0
    assert len(before - after) == churn.left_company
    assert len(after) == len(before) + churn.became_employees - churn.left_company


def test_churn_is_deterministic(tmp_path: Path, demo_db: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    shutil.copy(demo_db, a)
    shutil.copy(demo_db, b)
    churn_customers(a, seed=9)
    churn_customers(b, seed=9)
    assert employees(a) == employees(b)


def test_share_must_be_a_fraction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        churn_customers(tmp_path / "x.duckdb", share=2)
