"""Benchmark: a full campaign audience build to Parquet on 5M customers.

Include one segment, exclude two; three sub-audiences of three groups each (one a control);
email and three more attributes. Herald compiles it to one query that DuckDB runs from the
database file to the Parquet snapshot. The baseline, in the same run, computes the same
snapshot plainly with pandas (load columns, isin filters, np.select for first match, md5 in
Python, sort, largest remainder, merge, to_parquet). Both snapshots are compared row for row.

    python bench/campaigns.py                     # 5M customers
    python bench/campaigns.py --customers 200000  # a quick check

Results go to docs/benchmarks.md (section "campaigns").
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
SALT = "bench-campaign-salt"
SEGMENTS = [
    {
        "name": "B Purchasers",
        "status": "active",
        "where": {
            "attribute": "Transaction_Attributes_Extended.lifetime_order_frequency",
            "op": ">=",
            "value": 1,
        },
    },
    {
        "name": "B Employees",
        "status": "active",
        "where": {"attribute": "Customer_Attributes.is_employee", "op": "is true"},
    },
    {
        "name": "B No Email",
        "status": "active",
        "where": {"attribute": "Customer_360.email", "op": "is empty"},
    },
    {
        "name": "B VIP",
        "status": "active",
        "where": {
            "attribute": "Transaction_Attributes_Extended.lifetime_order_revenue",
            "op": ">",
            "value": 2000,
        },
    },
]
WEST = ["CA", "OR", "WA"]
TIERS = ["Gold", "Platinum"]


def groups(prefix: str) -> list[dict]:
    return [
        {
            "name": f"{prefix} A",
            "percent": 45,
            "destinations": [{"destination": "files", "attributes": ATTRIBUTES}],
        },
        {
            "name": f"{prefix} B",
            "percent": 45,
            "destinations": [{"destination": "files", "attributes": ATTRIBUTES}],
        },
        {"name": f"{prefix} Control", "percent": 10, "control": True},
    ]


ATTRIBUTES = [
    "email",
    {"given_name": "first_name"},
    {"surname": "last_name"},
    {"Customer_360.state": "region"},
]
CAMPAIGN = {
    "kind": "campaign",
    "name": "Bench",
    "include": ["B Purchasers"],
    "exclude": ["B Employees", "B No Email"],
    "sub_audiences": [
        {"name": "VIP", "segment": "B VIP", "groups": groups("VIP")},
        {
            "name": "West",
            "where": {"attribute": "Customer_360.state", "op": "in list", "values": WEST},
            "groups": groups("West"),
        },
        {
            "name": "Loyal",
            "where": {"attribute": "Customer_360.loyalty_tier", "op": "in list", "values": TIERS},
            "groups": groups("Loyal"),
        },
    ],
}


def database(customers: int) -> Path:
    return demo_database(customers, AS_OF)


def run_herald(db: Path, out: Path) -> dict:
    from herald.core.segments import parse_segment
    from herald.workspace import Workspace

    with (
        tempfile.TemporaryDirectory() as tmp,
        Workspace.init(tmp, database=str(db.resolve())) as ws,
    ):
        for doc in SEGMENTS:
            ws.segments.apply(parse_segment(doc))
        ws.campaigns.apply(CAMPAIGN)
        ws.store.campaign_uid("Bench")
        started = time.perf_counter()
        build = ws.campaigns.build("Bench", today=AS_OF)
        build = build.__class__(
            **{**build.__dict__, "query": _with_salt(build.query, ws.store.campaign_uid("Bench"))}
        )
        rows = ws.campaigns.write_snapshot(build, out)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def _with_salt(query, salt: str):
    # The store makes a random salt per campaign; the bench fixes it so pandas can use it too.
    from sqlglot import exp

    def swap(node):
        if isinstance(node, exp.Literal) and node.is_string and node.this == f"{salt}:":
            return exp.Literal.string(f"{SALT}:")
        return node

    return query.transform(swap)


def run_pandas(db: Path, out: Path) -> dict:
    import hashlib

    import duckdb
    import numpy as np
    import pandas as pd

    started = time.perf_counter()
    con = duckdb.connect(str(db), read_only=True)

    def load(sql: str) -> pd.DataFrame:
        return con.sql(sql).to_arrow_table().to_pandas(types_mapper=pd.ArrowDtype)

    c360 = load("SELECT amperity_id, email, state, loyalty_tier FROM Customer_360")
    ca = load("SELECT amperity_id, is_employee FROM Customer_Attributes")
    tae = load(
        "SELECT amperity_id, lifetime_order_frequency, lifetime_order_revenue "
        "FROM Transaction_Attributes_Extended"
    )
    mc = load("SELECT amperity_id, email, given_name, surname FROM Merged_Customers")
    con.close()

    purchasers = set(tae.loc[tae["lifetime_order_frequency"] >= 1, "amperity_id"])
    employees = set(ca.loc[ca["is_employee"] == True, "amperity_id"])  # noqa: E712
    email = c360["email"].astype(object)
    no_email = set(c360.loc[email.isna() | (email.str.strip(" \t\r\n") == ""), "amperity_id"])
    vip = set(tae.loc[tae["lifetime_order_revenue"] > 2000, "amperity_id"])
    aud = c360[
        c360["amperity_id"].isin(purchasers) & ~c360["amperity_id"].isin(employees | no_email)
    ].copy()
    state, tier = aud["state"].astype(object), aud["loyalty_tier"].astype(object)
    conditions = [
        aud["amperity_id"].isin(vip),
        state.isin(WEST).fillna(False),
        tier.isin(TIERS).fillna(False),
    ]
    aud["sub_ix"] = np.select([c.to_numpy(dtype=bool) for c in conditions], [0, 1, 2], default=3)
    aud = aud[aud["sub_ix"] < 3]
    keys = aud["amperity_id"].astype(object)
    aud["h"] = [hashlib.md5(f"{SALT}:{k}".encode()).hexdigest() for k in keys]
    aud = aud.sort_values(["sub_ix", "h", "amperity_id"])
    aud["rn"] = aud.groupby("sub_ix").cumcount() + 1
    names = ["VIP", "West", "Loyal"]
    parts = []
    for ix, sub in aud.groupby("sub_ix"):
        n = len(sub)
        bps = [4500, 4500, 1000]
        floors = [n * b // 10000 for b in bps]
        rems = [n * b % 10000 for b in bps]
        for i in sorted(range(3), key=lambda i: (-rems[i], i))[: n - sum(floors)]:
            floors[i] += 1
        labels = np.repeat([f"{names[ix]} A", f"{names[ix]} B", f"{names[ix]} Control"], floors)
        part = sub[["amperity_id", "state"]].copy()
        part["sub_audience"] = names[ix]
        part["group"] = labels
        part["is_control"] = part["group"].str.endswith("Control")
        parts.append(part)
    result = pd.concat(parts).merge(mc, on="amperity_id", how="left")
    result = result.rename(columns={"state": "Customer_360.state"})
    result = result[
        [
            "amperity_id",
            "sub_audience",
            "group",
            "is_control",
            "email",
            "given_name",
            "surname",
            "Customer_360.state",
        ]
    ]
    result.to_parquet(out, index=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": len(result), "peak_rss_mb": peak_rss_mb()}


def compare(a: Path, b: Path) -> int:
    import duckdb

    con = duckdb.connect()
    cols = (
        'amperity_id, sub_audience, "group", is_control, email, given_name, surname, '
        '"Customer_360.state"'
    )
    diff = con.execute(
        f"SELECT count(*) FROM ((SELECT {cols} FROM read_parquet('{a}') "
        f"EXCEPT ALL SELECT {cols} FROM read_parquet('{b}')) "
        f"UNION ALL (SELECT {cols} FROM read_parquet('{b}') "
        f"EXCEPT ALL SELECT {cols} FROM read_parquet('{a}')))"
    ).fetchall()[0][0]
    return int(diff)


def in_child(side: str, db: Path, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--side", side, "--db", str(db), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5_000_000)
    parser.add_argument("--side", choices=["herald", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run = run_herald if args.side == "herald" else run_pandas
        print(json.dumps(run(args.db, args.out)))
        return
    db = database(args.customers)
    with tempfile.TemporaryDirectory() as tmp:
        herald = in_child("herald", db, Path(tmp) / "herald.parquet")
        pandas = in_child("pandas", db, Path(tmp) / "pandas.parquet")
        differences = compare(Path(tmp) / "herald.parquet", Path(tmp) / "pandas.parquet")
    if differences:
        raise SystemExit(f"the snapshots differ in {differences} rows")
    command = f"python bench/campaigns.py --customers {args.customers}"
    campaign = (
        "1 include and 2 exclude segments; 3 sub-audiences (segment, criteria, criteria; "
        "first match) of 3 groups each (45/45/10 control); email and 3 more attributes; "
        "full build to one Parquet snapshot."
    )
    herald_cost = f"{herald['seconds']:.2f} s | {herald['peak_rss_mb']:,.0f} MB"
    pandas_cost = f"{pandas['seconds']:.2f} s | {pandas['peak_rss_mb']:,.0f} MB"
    ratio = (
        f"Herald is **{pandas['seconds'] / herald['seconds']:.1f}×** faster and uses "
        f"{pandas['peak_rss_mb'] / herald['peak_rss_mb']:.1f}× less memory. "
        "Target: ≤ 15 s and ≤ 3 GB peak RSS."
    )
    body = f"""## Campaign audience build (`bench/campaigns.py`)

Command: `{command}` · revision {git_revision()} · {dt.date.today()}
Machine: {machine()}
Data: {args.customers:,} customers (demo generator, seed 7, as of {AS_OF}).
Campaign: {campaign}
Result: {herald["rows"]:,} recipients; the two snapshots are identical row for row.

| | time | peak RSS |
|---|---|---|
| Herald (DuckDB): compile + one query to Parquet | {herald_cost} |
| pandas baseline: load + compute + Parquet | {pandas_cost} |

Ratio: {ratio}
"""
    write_section("campaigns", body)
    print(body)


if __name__ == "__main__":
    main()
