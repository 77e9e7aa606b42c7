"""``herald campaign results`` and ``herald results export`` on the demo database.

A campaign is delivered to the ``files`` destination; its results must equal, to the cent, a
hand-written DuckDB computation over the same recipients log and ``Unified_Transactions``,
written here per recipient with correlated subqueries (the product pre-aggregates the orders
per customer and window start, then joins).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cli_helpers import as_json, ok_stdout, one_error_line, run

from herald.core.results.query import SUM_COLUMNS

NAME = "Results Offer"
CAMPAIGN = """
kind: campaign
name: Results Offer
include: [Email Opted In]
sub_audiences:
  - name: Big Spenders
    segment: High Value
    groups:
      - {name: Gold, percent: 70, destinations: [files]}
      - {name: Holdout, percent: 30, control: true}
remaining:
  groups:
    - {name: Newsletter, percent: 100, destinations: [files]}
launch_date: LAUNCH
"""
AS_OF = "2026-06-30"  # the demo data's as-of date: orders end the day before


def apply_and_run(ws: Path, launch: str) -> str:
    """Apply the campaign with this launch date, run it, and return the run's id."""
    path = ws / f"results-{launch}.yaml"
    path.write_text(CAMPAIGN.replace("LAUNCH", launch), encoding="utf-8")
    ok_stdout("campaign", "apply", "-f", str(path))
    ok_stdout("campaign", "run", NAME, "--yes")
    run_id: str = as_json("campaign", "runs", NAME)[0]["id"]
    return run_id


@pytest.fixture
def one_run(ws_dir: Path) -> str:
    return apply_and_run(ws_dir, "2026-05-15")


EXPECTED_SQL = """
WITH recipients AS (   -- one row per recipient of a group (the log has one per destination)
    SELECT DISTINCT run_id, sub_audience, "group", is_control, amperity_id,
           CAST(launch_date AS TIMESTAMP) AS start_at, delivered_at
    FROM read_parquet($logs)
), counted AS (         -- pooled: a customer once, in their first run
    SELECT *, run_id = first_value(run_id) OVER (PARTITION BY amperity_id
                                                 ORDER BY delivered_at, run_id) AS first_run
    FROM recipients
), figures AS (
    SELECT r.*,
        (SELECT count(*) FROM Unified_Transactions t
          WHERE t.amperity_id = r.amperity_id AND t.order_datetime >= r.start_at
            AND t.order_datetime < r.start_at + INTERVAL (CAST($days AS INTEGER)) DAY
            AND t.order_datetime < $as_of) AS orders,
        (SELECT coalesce(sum(coalesce(order_revenue, 0)), 0) FROM Unified_Transactions t
          WHERE t.amperity_id = r.amperity_id AND t.order_datetime >= r.start_at
            AND t.order_datetime < r.start_at + INTERVAL (CAST($days AS INTEGER)) DAY
            AND t.order_datetime < $as_of) AS y,
        (SELECT coalesce(sum(coalesce(order_revenue, 0)), 0) FROM Unified_Transactions t
          WHERE t.amperity_id = r.amperity_id AND t.order_datetime < r.start_at
            AND t.order_datetime >= r.start_at - INTERVAL (CAST($days AS INTEGER)) DAY
            AND t.order_datetime < $as_of) AS x
    FROM counted r
    WHERE $per_run OR first_run
)
SELECT CASE WHEN $per_run THEN run_id END AS run_id, sub_audience, "group", is_control,
       count(*) AS recipients, count(*) FILTER (WHERE orders > 0) AS purchasers,
       sum(orders) AS orders, sum(y) AS revenue_total,
       sum(y::DOUBLE) AS revenue, sum(y::DOUBLE * y::DOUBLE) AS revenue_sq,
       sum(x::DOUBLE) AS pre_revenue, sum(x::DOUBLE * x::DOUBLE) AS pre_revenue_sq,
       sum(x::DOUBLE * y::DOUBLE) AS revenue_cross
FROM figures
GROUP BY ALL
"""


def expected(
    demo_db: Path,
    logs: list[Path],
    *,
    days: int = 30,
    per_run: bool = True,
    as_of: dt.datetime = dt.datetime(2026, 6, 30),
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The hand-written computation, keyed by (run or None, sub-audience, group)."""
    with duckdb.connect(str(demo_db), read_only=True) as con:
        table = con.execute(
            EXPECTED_SQL,
            {
                "logs": [str(p) for p in logs],
                "days": days,
                "as_of": as_of,
                "per_run": per_run,
            },
        ).fetchall()
        names = [d[0] for d in con.description or []]
    rows = [dict(zip(names, row, strict=True)) for row in table]
    return {(r["run_id"], r["sub_audience"], r["group"]): r for r in rows}


def log_of(ws: Path, run_id: str) -> Path:
    return ws / ".herald" / "runs" / run_id / "recipients_log.parquet"


def check_section(section: dict[str, Any], want: dict[tuple[Any, ...], dict[str, Any]]) -> None:
    """Counts and the revenue total exact (to the cent), the float sums to rounding."""
    got = {(section["run_id"], g["sub_audience"], g["group"]): g for g in section["groups"]}
    assert got.keys() == want.keys()
    for key, g in got.items():
        w = want[key]
        assert (g["is_control"], g["sums"]["recipients"]) == (w["is_control"], w["recipients"])
        assert (g["sums"]["purchasers"], g["sums"]["orders"]) == (w["purchasers"], w["orders"])
        assert Decimal(str(g["revenue_total"])) == w["revenue_total"], key
        for name in SUM_COLUMNS[3:]:
            assert g["sums"][name] == pytest.approx(w[name], rel=1e-9, abs=1e-6), (key, name)


def test_results_equal_hand_written_sql_to_the_cent(
    one_run: str, ws_dir: Path, demo_db: Path
) -> None:
    found = as_json("campaign", "results", NAME, "--as-of", AS_OF)
    want = expected(demo_db, [log_of(ws_dir, one_run)])

    [section] = found["sections"]
    assert section["run_id"] == one_run
    check_section(section, want)
    assert [(g["sub_audience"], g["group"]) for g in section["groups"]] == [
        ("Big Spenders", "Gold"),  # the campaign's order
        ("Big Spenders", "Holdout"),
        ("All Remaining Recipients", "Newsletter"),
    ]
    # The demo data has orders in the window and before it: the check compares real figures.
    big = {g["group"]: g for g in section["groups"] if g["sub_audience"] == "Big Spenders"}
    assert big["Gold"]["sums"]["purchasers"] > 0
    assert big["Holdout"]["sums"]["pre_revenue"] > 0
    assert (section["window_start"], section["window_end"]) == (
        "2026-05-15T00:00:00+00:00",
        "2026-06-14T00:00:00+00:00",
    )
    assert section["window_over"] is True
    gold, holdout = big["Gold"], big["Holdout"]
    assert gold["control"] == "Holdout"
    assert holdout["lift"] is None
    rate = lambda g: g["sums"]["purchasers"] / g["sums"]["recipients"]  # noqa: E731
    assert gold["lift"]["conversion"]["value"] == pytest.approx(rate(gold) - rate(holdout))
    [newsletter] = [g for g in section["groups"] if g["group"] == "Newsletter"]
    assert newsletter["lift"] is None
    assert newsletter["note"] == "no control group in this sub-audience"


def test_recurring_results_per_run_and_pooled(ws_dir: Path, demo_db: Path) -> None:
    """Two runs with different launch dates: each run from its own start, and pooled with
    each customer once, in their first run's group and window."""
    first = apply_and_run(ws_dir, "2026-05-15")
    second = apply_and_run(ws_dir, "2026-05-29")
    logs = [log_of(ws_dir, first), log_of(ws_dir, second)]

    found = as_json("campaign", "results", NAME, "--as-of", AS_OF, "--window", "2w")

    pooled, *per_run = found["sections"]
    assert (pooled["run_id"], pooled["runs"]) == (None, [first, second])
    check_section(pooled, expected(demo_db, logs, days=14, per_run=False))
    assert [s["run_id"] for s in per_run] == [first, second]
    want = expected(demo_db, logs, days=14)
    for section in per_run:
        check_section(section, {k: v for k, v in want.items() if k[0] == section["run_id"]})
    assert pooled["window_start"][:10] == "2026-05-15"
    assert per_run[1]["window_start"][:10] == "2026-05-29"

    only = as_json("campaign", "results", NAME, "--as-of", AS_OF, "--run", second)
    assert [s["run_id"] for s in only["sections"]] == [second]


def test_results_table_and_window_not_over(one_run: str, ws_dir: Path, demo_db: Path) -> None:
    """Before the window ends, orders count up to the as-of time only, and the output says
    that the window is not over."""
    found = as_json("campaign", "results", NAME, "--as-of", "2026-06-01 12:00")
    [section] = found["sections"]
    assert section["window_over"] is False
    cut = dt.datetime(2026, 6, 1, 12)
    check_section(section, expected(demo_db, [log_of(ws_dir, one_run)], as_of=cut))
    out = ok_stdout("campaign", "results", NAME, "--as-of", "2026-06-01")
    assert f"Run {one_run}: window 2026-05-15 UTC → 2026-06-14 UTC (not over yet)" in out
    assert "Big Spenders / Gold against Holdout" in out
    assert "All Remaining Recipients / Newsletter: no control group in this sub-audience" in out
    for column in ("recipients", "purchasers", "conversion", "revenue/recipient", "incremental"):
        assert column in out
    assert "CUPED" in out
    assert "CUPED off." in ok_stdout("campaign", "results", NAME, "--no-cuped")


def test_results_csv(one_run: str, ws_dir: Path, demo_db: Path) -> None:
    target = ws_dir / "out" / "results.csv"
    out = ok_stdout("campaign", "results", NAME, "--as-of", AS_OF, "--csv", str(target))
    assert f"Wrote 3 rows to {target}" in out
    with target.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    want = expected(demo_db, [log_of(ws_dir, one_run)])
    assert {(r["section"], r["sub_audience"], r["group"]) for r in rows} == set(want)
    for row in rows:
        w = want[(row["section"], row["sub_audience"], row["group"])]
        assert (int(row["recipients"]), Decimal(row["revenue"])) == (
            w["recipients"],
            w["revenue_total"],
        )
    gold = next(r for r in rows if r["group"] == "Gold")
    assert gold["control"] == "Holdout"
    assert float(gold["lift_conversion"]) != 0


def test_bad_input_is_one_line(ws_dir: Path) -> None:
    assert "'No Such'" in one_error_line(run("campaign", "results", "No Such"))
    path = ws_dir / "results.yaml"
    path.write_text(CAMPAIGN.replace("LAUNCH", "2026-05-15"), encoding="utf-8")
    ok_stdout("campaign", "apply", "-f", str(path))
    line = one_error_line(run("campaign", "results", NAME))
    assert "has no delivered run yet" in line
    assert "herald campaign run" in line
    line = one_error_line(run("campaign", "results", NAME, "--window", "thirty"))
    assert "window 'thirty'" in line
    assert "30d" in line
    line = one_error_line(run("campaign", "results", NAME, "--run", "run_20260101T000000_abcdef"))
    assert "not found" in line


def test_export_parquet_and_duckdb(one_run: str, ws_dir: Path) -> None:
    parquet = ws_dir / "export" / "recipients.parquet"
    database = ws_dir / "export" / "recipients.duckdb"
    ok_stdout("results", "export", "--campaign", NAME, "--parquet", str(parquet))
    ok_stdout("results", "export", "--duckdb", str(database))
    log = log_of(ws_dir, one_run)
    with duckdb.connect() as con:
        want = con.execute(f"SELECT count(*) FROM read_parquet('{log}')").fetchone()
        columns = [
            d[0]
            for d in con.execute(f"SELECT * FROM read_parquet('{parquet}') LIMIT 0").description
            or []
        ]
        [(rows, controls_sent)] = con.execute(
            f"""SELECT count(*), count(*) FILTER (WHERE is_control AND destination_name IS NOT NULL)
                FROM read_parquet('{parquet}') WHERE campaign_name = '{NAME}'"""
        ).fetchall()
    assert columns == [
        "amperity_id",
        "campaign_name",
        "run_id",
        "sub_audience_name",
        "treatment_name",
        "is_control",
        "destination_name",
        "delivery_datetime",
        "launch_date",
    ]
    assert (rows, controls_sent) == (want[0] if want else None, 0)
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM Campaign_Recipients").fetchone() == want


def test_export_needs_one_target_and_a_run(ws_dir: Path) -> None:
    assert run("results", "export").exit_code == 2
    line = one_error_line(run("results", "export", "--parquet", str(ws_dir / "x.parquet")))
    assert "no campaign has a delivered run" in line
    line = one_error_line(
        run("results", "export", "--campaign", "Nope", "--parquet", str(ws_dir / "x.parquet"))
    )
    assert "'Nope'" in line
    assert not (ws_dir / "x.parquet").exists()


def test_results_json_is_one_document(one_run: str) -> None:
    result = run("campaign", "results", NAME, "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["campaign"] == NAME
    assert document["window_days"] == 30
    assert document["sections"][0]["groups"][0]["sums"].keys() == set(SUM_COLUMNS)
