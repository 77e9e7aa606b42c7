"""Benchmark: insights of a four-condition segment (one purchase-behaviour condition).

Herald compiles the segment to one SQL query that DuckDB runs over the database file. The
baseline, in the same run, computes the same result plainly with pandas: load the columns it
needs, filter, group, join. Each side runs in its own process so its peak memory is its own.

    python bench/segments.py                     # 5M customers, ~50M transactions
    python bench/segments.py --customers 200000  # a quick check

The demo database is generated once and kept in bench/.data/ (about 3 GB at 5M customers).
Results go to docs/benchmarks.md (section "segments").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import demo_database, git_revision, machine, peak_rss_mb, write_section

AS_OF = dt.date(2026, 6, 30)
STATES = ["CA", "NY", "TX", "FL", "WA"]
MIN_REVENUE = 200
SEGMENT = {
    "name": "Bench Four Conditions",
    "status": "active",
    "where": {
        "all": [
            {"attribute": "Customer_360.state", "op": "in list", "values": STATES},
            {"attribute": "Customer_Attributes.is_opted_into_email", "op": "is true"},
            {
                "attribute": "Transaction_Attributes_Extended.lifetime_order_revenue",
                "op": ">",
                "value": MIN_REVENUE,
            },
            {
                "has_purchased": {
                    "within": "12 months",
                    "min_count": 2,
                    "where": {
                        "attribute": "Unified_Transactions.purchase_channel",
                        "op": "is exactly",
                        "value": "Online",
                    },
                }
            },
        ]
    },
}


def database(customers: int) -> Path:
    return demo_database(customers, AS_OF)


def run_herald(db: Path, repeats: int) -> dict:
    from herald.core.segments import parse_segment
    from herald.workspace import Workspace

    with (
        tempfile.TemporaryDirectory() as tmp,
        Workspace.init(tmp, database=str(db.resolve())) as ws,
    ):
        ws.segments.apply(parse_segment(SEGMENT))
        times, result = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            result = ws.segments.insights(SEGMENT["name"], "active", today=AS_OF)
            times.append(time.perf_counter() - started)
    return {"seconds": times, "metrics": result.as_dict(), "peak_rss_mb": peak_rss_mb()}


def run_pandas(db: Path) -> dict:
    import duckdb
    import pandas as pd

    started = time.perf_counter()
    con = duckdb.connect(str(db), read_only=True)

    def load(sql: str) -> pd.DataFrame:
        # Arrow-backed columns: the memory-lean way to hold 50M strings in pandas.
        return con.sql(sql).to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)

    c360 = load("SELECT amperity_id, state FROM Customer_360")
    ca = load(
        "SELECT amperity_id, is_opted_into_email, contactable_email, contactable_phone, "
        "contactable_address FROM Customer_Attributes"
    )
    tae = load(
        "SELECT amperity_id, lifetime_order_revenue, l12m_order_frequency, l12m_order_revenue "
        "FROM Transaction_Attributes_Extended"
    )
    tx = load(
        "SELECT amperity_id, order_id, order_datetime, purchase_channel FROM Unified_Transactions"
    )
    con.close()
    loaded = time.perf_counter()

    since = pd.Timestamp(AS_OF.replace(year=AS_OF.year - 1))
    seg = c360.loc[c360["state"].isin(STATES), ["amperity_id"]]
    seg = seg[seg["amperity_id"].isin(ca.loc[ca["is_opted_into_email"] == True, "amperity_id"])]  # noqa: E712
    seg = seg[
        seg["amperity_id"].isin(tae.loc[tae["lifetime_order_revenue"] > MIN_REVENUE, "amperity_id"])
    ]
    recent = tx[(tx["order_datetime"] >= since) & (tx["purchase_channel"] == "Online")]
    orders = recent.groupby("amperity_id").size()  # one row per order, as Herald assumes
    seg = seg[seg["amperity_id"].isin(orders.index[orders >= 2])]
    joined = seg.merge(tae, on="amperity_id", how="left").merge(ca, on="amperity_id", how="left")
    email, phone = joined["contactable_email"] == True, joined["contactable_phone"] == True  # noqa: E712
    metrics = {
        "unique_customers": len(joined),
        "active_customers_1y": int((joined["l12m_order_frequency"] > 0).sum()),
        "revenue_1y": float(joined["l12m_order_revenue"].fillna(0).sum()),
        "reachable_customers": int((email | phone | (joined["contactable_address"] == True)).sum()),  # noqa: E712
        "reachable_email": int(email.sum()),
        "reachable_phone": int(phone.sum()),
    }
    done = time.perf_counter()
    return {
        "seconds": [done - started],
        "load_seconds": loaded - started,
        "compute_seconds": done - loaded,
        "metrics": metrics,
        "peak_rss_mb": peak_rss_mb(),
    }


def in_child(side: str, db: Path, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--side", side, "--db", str(db), "--repeats", str(repeats)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def same_result(a: dict, b: dict) -> bool:
    for key, value in b.items():
        mine = a[key]
        if isinstance(value, float):
            if abs(mine - value) > max(0.01, abs(value) * 1e-9):
                return False
        elif mine != value:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side", choices=["herald", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        result = run_herald(args.db, args.repeats) if args.side == "herald" else run_pandas(args.db)
        print(json.dumps(result))
        return

    db = database(args.customers)
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        transactions = con.execute("SELECT count(*) FROM Unified_Transactions").fetchall()[0][0]
    herald = in_child("herald", db, args.repeats)
    pandas = in_child("pandas", db, 1)
    if not same_result(herald["metrics"], pandas["metrics"]):
        raise SystemExit(f"results differ:\nherald {herald['metrics']}\npandas {pandas['metrics']}")
    report(args, transactions, herald, pandas)


def report(args: argparse.Namespace, transactions: int, herald: dict, pandas: dict) -> None:
    best, first = min(herald["seconds"]), herald["seconds"][0]
    total, compute = pandas["seconds"][0], pandas["compute_seconds"]
    m = herald["metrics"]
    command = f"python bench/segments.py --customers {args.customers}"
    data = (
        f"{args.customers:,} customers, {transactions:,} transactions "
        f"(demo generator, seed 7, as of {AS_OF})."
    )
    segment = (
        f"state in 5 states AND opted into email AND lifetime revenue > ${MIN_REVENUE} "
        "AND has purchased online at least twice in 12 months."
    )
    result = (
        f"{m['unique_customers']:,} customers, {m['active_customers_1y']:,} active, "
        f"${m['revenue_1y']:,.0f} revenue 1y, {m['reachable_customers']:,} reachable."
    )
    speedup = total / first
    body = f"""## Segment insights (`bench/segments.py`)

Command: `{command}` · revision {git_revision()} · {dt.date.today()}
Machine: {machine()}
Data: {data}
Segment: {segment}
Result (identical on both sides): {result}

| | time | peak RSS |
|---|---|---|
| Herald (DuckDB), first run | {first:.2f} s | {herald["peak_rss_mb"]:,.0f} MB |
| Herald (DuckDB), best of {len(herald["seconds"])} | {best:.2f} s | |
| pandas baseline, load + compute | {total:.2f} s | {pandas["peak_rss_mb"]:,.0f} MB |
| pandas baseline, compute only (data already in memory) | {compute:.2f} s | |

Ratio: Herald is **{speedup:.1f}×** faster than the pandas baseline end to end (first run), and
{compute / best:.1f}× faster than pandas' compute step alone. Target: Herald ≤ 5 s and ≥ 10× faster.
"""
    write_section("segments", body)
    print(body)


if __name__ == "__main__":
    main()
