"""Benchmark: Herald's generated SQL against the best hand-written DuckDB SQL, same answers.

Two workloads, taken from the other benches so that the three agree:

- the insights of the segment of ``bench/segments.py`` (four conditions, one of them
  "has purchased"), run as ``herald segment insights`` runs them (``ws.segments.insights``);
- the campaign of ``bench/campaigns.py`` (1 include and 2 exclude segments, 3 sub-audiences of
  3 groups), built as a run builds it (``ws.campaigns.build`` + ``write_snapshot`` to Parquet).

The other side is the query an expert would write for the same answer (``HAND_INSIGHTS`` and
``HAND_CAMPAIGN`` below), run on the same engine class (same connection settings, same Parquet
writer). Both sides run interleaved, A, B, A, B …, each in a fresh process so that its peak RSS
is its own; CPU time is the whole process's (DuckDB's threads included) over the timed part.
Every round checks the answers row for row: the same metrics, the same recipients in the same
sub-audience and group with the same attributes.

    python bench/sql_plans.py                                  # 1M, 5M and 10M customers
    python bench/sql_plans.py --customers 1000000 --rounds 3   # a quick look

Databases come from the demo generator and are kept in bench/.data/ (as the other benches).
Results go to docs/benchmarks.md (section "sql_plans").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report
import campaigns as campaign_bench
import segments as segment_bench
from _report import demo_database, git_revision, machine, peak_rss_mb, summary, write_section

AS_OF = segment_bench.AS_OF
assert campaign_bench.AS_OF == AS_OF
SIZES = (1_000_000, 5_000_000, 10_000_000)
WORKLOADS = ("insights", "campaign")
SIDES = ("herald", "hand")
TARGET = 1.1  # Herald ÷ hand-written, CPU time (issue 13)


def _list(values: list[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


# The expert's insights query, as one would write it knowing the data:
# - conditions on Customer_360, the base table, are plain predicates on its row;
# - Customer_Attributes and Transaction_Attributes_Extended hold one row per customer: each is
#   joined once, and the one join serves both the condition and the metrics;
# - "has purchased" counts the orders of the candidates only, the customers that pass every
#   other condition: the semi join's hash table is built on the candidates and DuckDB pushes
#   it into the scan of Unified_Transactions as a filter, so only their orders are grouped;
# - the metrics are plain CASE sums over booleans: the same NULL rules as Herald's `= TRUE`
#   (NULL counts as not reachable) and the same result types.
# Herald's query has had the same shape since issue 13 (`herald segment sql`); before, it read
# each table once per condition and grouped every customer's orders (1.3x the CPU time).
HAND_INSIGHTS = f"""
WITH candidates AS (
  -- customers passing every condition but the purchase one, with the metrics' columns
  SELECT c.amperity_id,
         tae.l12m_order_frequency, tae.l12m_order_revenue,
         ca.contactable_email, ca.contactable_phone, ca.contactable_address
  FROM Customer_360 AS c
  JOIN Customer_Attributes AS ca ON ca.amperity_id = c.amperity_id
  JOIN Transaction_Attributes_Extended AS tae ON tae.amperity_id = c.amperity_id
  WHERE c.state IN ({_list(segment_bench.STATES)})
    AND ca.is_opted_into_email
    AND tae.lifetime_order_revenue > {segment_bench.MIN_REVENUE}
),
buyers AS (
  -- at least 2 online orders in the 12 months before the as-of date, candidates only
  SELECT tx.amperity_id
  FROM Unified_Transactions AS tx
  SEMI JOIN candidates AS c ON c.amperity_id = tx.amperity_id
  WHERE tx.purchase_channel = 'Online'
    AND tx.order_datetime >= TIMESTAMP '{AS_OF.replace(year=AS_OF.year - 1)} 00:00:00'
  GROUP BY tx.amperity_id
  HAVING count(*) >= 2
)
SELECT
  count(*) AS unique_customers,
  SUM(CASE WHEN l12m_order_frequency > 0 THEN 1 ELSE 0 END) AS active_customers_1y,
  COALESCE(SUM(l12m_order_revenue), 0) AS revenue_1y,
  SUM(CASE WHEN contactable_email OR contactable_phone OR contactable_address THEN 1 ELSE 0 END)
    AS reachable_customers,
  SUM(CASE WHEN contactable_email THEN 1 ELSE 0 END) AS reachable_email,
  SUM(CASE WHEN contactable_phone THEN 1 ELSE 0 END) AS reachable_phone
FROM candidates
SEMI JOIN buyers AS b ON b.amperity_id = candidates.amperity_id
"""

# The expert's campaign build: Customer_360 is read once.
# - the include segment (lifetime_order_frequency >= 1), the VIP sub-audience (revenue > 2000)
#   and the first-match CASE read one join of Transaction_Attributes_Extended (one row per
#   customer);
# - "B Employees" is excluded by an anti join whose hash table is built on the employees
#   (the small side), not on the whole table;
# - "B No Email" (`email is empty`: NULL or only blanks ' \t\r\n') is excluded with
#   `NOT regexp_full_match(email, '[ \t\r\n]*')`: NULL stays NULL and is dropped, a blank
#   string matches;
# - the state attribute is carried from the same base row; Merged_Customers is joined to the
#   recipients at the end.
# The split is Herald's rule, written the same way (DESIGN §1.3): salted md5 order within each
# sub-audience, largest-remainder group sizes, contiguous runs of that order per group; an
# expert has no cheaper equivalent (md5_number's order is not the hex string's).
# Herald's query has this shape since issue 13; before, it read Customer_360 seven times.
HAND_CAMPAIGN = f"""
WITH members AS (
  -- the audience (include minus excludes), each member with its first matching sub-audience
  SELECT c.amperity_id, c.state,
         CASE WHEN tae.lifetime_order_revenue > 2000 THEN 0                    -- VIP
              WHEN c.state IN ({_list(campaign_bench.WEST)}) THEN 1             -- West
              WHEN c.loyalty_tier IN ({_list(campaign_bench.TIERS)}) THEN 2     -- Loyal
         END AS sub_ix
  FROM Customer_360 AS c
  JOIN Transaction_Attributes_Extended AS tae ON tae.amperity_id = c.amperity_id
  ANTI JOIN (SELECT amperity_id FROM Customer_Attributes WHERE is_employee) AS employees
    ON employees.amperity_id = c.amperity_id
  WHERE tae.lifetime_order_frequency >= 1
    AND NOT regexp_full_match(c.email, '[ \\t\\r\\n]*')
    AND sub_ix IS NOT NULL  -- first match only; the remainder has no groups
),
ranked AS (
  SELECT amperity_id, state, sub_ix,
         row_number() OVER (
           PARTITION BY sub_ix
           ORDER BY md5('{campaign_bench.SALT}:' || amperity_id), amperity_id
         ) AS md5_rank
  FROM members
),
shares (sub_ix, sub_name, group_ix, group_name, basis_points, is_control) AS (
  VALUES (0, 'VIP', 0, 'VIP A', 4500, FALSE), (0, 'VIP', 1, 'VIP B', 4500, FALSE),
         (0, 'VIP', 2, 'VIP Control', 1000, TRUE),
         (1, 'West', 0, 'West A', 4500, FALSE), (1, 'West', 1, 'West B', 4500, FALSE),
         (1, 'West', 2, 'West Control', 1000, TRUE),
         (2, 'Loyal', 0, 'Loyal A', 4500, FALSE), (2, 'Loyal', 1, 'Loyal B', 4500, FALSE),
         (2, 'Loyal', 2, 'Loyal Control', 1000, TRUE)
),
quotas AS (
  SELECT s.*, n.member_count,
         n.member_count * s.basis_points // 10000 AS floor_share,
         n.member_count * s.basis_points % 10000 AS remainder
  FROM shares AS s
  JOIN (SELECT sub_ix, count(*) AS member_count FROM members GROUP BY sub_ix) AS n USING (sub_ix)
),
sized AS (
  -- largest remainder: the members the floors leave over go to the largest remainders
  SELECT *, floor_share + CASE
           WHEN row_number() OVER (PARTITION BY sub_ix ORDER BY remainder DESC, group_ix)
                <= member_count - sum(floor_share) OVER (PARTITION BY sub_ix)
           THEN 1 ELSE 0 END AS group_size
  FROM quotas
),
bounds AS (
  SELECT sub_ix, sub_name, group_name, is_control, group_size,
         sum(group_size) OVER (PARTITION BY sub_ix ORDER BY group_ix) AS last_rank
  FROM sized
)
SELECT r.amperity_id, b.sub_name AS sub_audience, b.group_name AS "group", b.is_control,
       mc.email, mc.given_name, mc.surname, r.state AS "Customer_360.state"
FROM ranked AS r
JOIN bounds AS b
  ON b.sub_ix = r.sub_ix AND r.md5_rank > b.last_rank - b.group_size AND r.md5_rank <= b.last_rank
LEFT JOIN Merged_Customers AS mc ON mc.amperity_id = r.amperity_id
"""
HAND = {"insights": HAND_INSIGHTS, "campaign": HAND_CAMPAIGN}


# --- one side, in its own process ------------------------------------------------------------


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """``work()``'s value, wall seconds and CPU seconds of the whole process (all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = work()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    """The metrics Herald reports from an insights row (exact: revenue has 2 decimals)."""
    from herald.core.insights import Insights

    return Insights.from_row(row).as_dict()


def herald_insights(db: Path, out: Path) -> dict[str, Any]:
    from herald.core.segments import parse_segment
    from herald.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp, Workspace.init(tmp, database=str(db)) as ws:
        ws.segments.apply(parse_segment(segment_bench.SEGMENT))
        name = segment_bench.SEGMENT["name"]
        # What `herald segment insights NAME` runs: compile, one query, record the refresh.
        found, wall, cpu = timed(lambda: ws.segments.insights(name, "active", today=AS_OF))
    return {"wall": wall, "cpu": cpu, "result": found.as_dict()}


def hand_insights(db: Path, out: Path) -> dict[str, Any]:
    from herald.engines.duckdb import DuckDBEngine

    with DuckDBEngine(db) as engine:
        table, wall, cpu = timed(lambda: engine.query(HAND_INSIGHTS))
    return {"wall": wall, "cpu": cpu, "result": _metrics(table.to_pylist()[0])}


def herald_campaign(db: Path, out: Path) -> dict[str, Any]:
    from herald.core.segments import parse_segment
    from herald.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp, Workspace.init(tmp, database=str(db)) as ws:
        for doc in campaign_bench.SEGMENTS:
            ws.segments.apply(parse_segment(doc))
        ws.campaigns.apply(campaign_bench.CAMPAIGN)
        salt = ws.store.campaign_uid("Bench")
        build, compile_wall, compile_cpu = timed(lambda: ws.campaigns.build("Bench", today=AS_OF))
        # Untimed: the store's salt is random; both sides use the bench's fixed salt.
        query = campaign_bench._with_salt(build.query, salt)
        build = build.__class__(**{**build.__dict__, "query": query})
        rows, wall, cpu = timed(lambda: ws.campaigns.write_snapshot(build, out))
    return {
        "wall": compile_wall + wall,
        "cpu": compile_cpu + cpu,
        "compile_wall": compile_wall,
        "result": rows,
    }


def hand_campaign(db: Path, out: Path) -> dict[str, Any]:
    from sqlglot import exp

    from herald.engines.duckdb import DuckDBEngine

    with DuckDBEngine(db) as engine:
        # A Command renders as its text: the engine's own Parquet writer runs the SQL as is.
        query = exp.Command(this=HAND_CAMPAIGN)
        rows, wall, cpu = timed(lambda: engine.write_parquet(query, out))
    return {"wall": wall, "cpu": cpu, "result": rows}


# --- where the time goes: DuckDB's profile of each side's query --------------------------------


def herald_sql(workload: str, db: Path) -> str:
    """The SQL Herald runs for ``workload``, as text (the campaign's with the bench's salt)."""
    from herald.core.segments import parse_segment
    from herald.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp, Workspace.init(tmp, database=str(db)) as ws:
        if workload == "insights":
            ws.segments.apply(parse_segment(segment_bench.SEGMENT))
            segment = ws.segments.load(segment_bench.SEGMENT["name"], "active")
            query = ws.segments.insights_query(segment, today=AS_OF)
        else:
            for doc in campaign_bench.SEGMENTS:
                ws.segments.apply(parse_segment(doc))
            ws.campaigns.apply(campaign_bench.CAMPAIGN)
            build = ws.campaigns.build("Bench", today=AS_OF)
            query = campaign_bench._with_salt(build.query, ws.store.campaign_uid("Bench"))
        return ws.engine.render(query)


def profile(workload: str, side: str, db: Path, top: int = 6) -> dict[str, Any]:
    """DuckDB's EXPLAIN ANALYZE of one side's query: its costliest operators.

    A plain connection (the engine's is locked against writing the profile to a file); the
    plan is the same, the query text being the same.
    """
    import duckdb

    sql = herald_sql(workload, db) if side == "herald" else HAND[workload]
    with tempfile.TemporaryDirectory() as tmp, duckdb.connect(str(db), read_only=True) as con:
        output = Path(tmp) / "profile.json"
        con.execute("SET TimeZone = 'UTC'")
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{output}'")
        con.sql(sql).fetchall()
        con.execute("PRAGMA disable_profiling")
        tree = json.loads(output.read_text())
    operators: list[dict[str, Any]] = []
    _walk(tree["operator"], operators)
    scans: dict[str, int] = {}
    for op in operators:
        if op["table"]:
            scans[op["table"]] = scans.get(op["table"], 0) + 1
    operators.sort(key=lambda op: -op["seconds"])
    return {
        "cpu": tree["query"]["cpu_time"],
        "operators": operators[:top],
        "scans": scans,
        "rows_scanned": sum(op["scanned"] for op in operators),
    }


def _walk(nodes: list[dict[str, Any]], into: list[dict[str, Any]]) -> None:
    for node in nodes:
        info = node.get("extra_info", {})
        detail = [str(info["Table"]).rsplit(".", 1)[-1]] if "Table" in info else []
        detail += [f"{info['Join Type']} join"] if "Join Type" in info else []
        detail += [_filters(info["Filters"])] if info.get("Filters") else []
        into.append(
            {
                "name": node.get("name", "?"),
                "seconds": float(node.get("timing", 0.0)),
                "rows": int(node.get("intermediate_rows", 0)),
                "detail": ": ".join(detail),
                "table": str(info.get("Table", "")).rsplit(".", 1)[-1],
                "scanned": int(node.get("rows_scanned", 0)),
            }
        )
        _walk(node.get("children", []), into)


def _filters(filters: str | list[str]) -> str:
    """The profile's filters on one line: it splits them into a list, and also splits one
    filter at a newline inside a string literal (a line ending inside an open quote)."""
    parts = [filters] if isinstance(filters, str) else filters
    text = ""
    for part in parts:
        inside_quote = text.count("'") % 2 == 1
        text += ("\\n" if inside_quote else " AND ") + part if text else part
    return text.replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


RUNNERS = {
    ("insights", "herald"): herald_insights,
    ("insights", "hand"): hand_insights,
    ("campaign", "herald"): herald_campaign,
    ("campaign", "hand"): hand_campaign,
}


def child(args: argparse.Namespace) -> dict[str, Any]:
    if args.side == "compare":
        return {"differences": snapshot_differences(args.db, args.out)}
    if args.side.startswith("profile:"):
        _, workload, side = args.side.split(":")
        return profile(workload, side, args.db.resolve())
    workload, side = args.side.split(":")
    found = RUNNERS[workload, side](args.db.resolve(), args.out)
    return {**found, "peak_rss_mb": peak_rss_mb()}


def snapshot_differences(a: Path, b: Path) -> int:
    """Rows in one snapshot and not in the other, both ways (as multisets)."""
    import duckdb

    cols = (
        'amperity_id, sub_audience, "group", is_control, email, given_name, surname, '
        '"Customer_360.state"'
    )
    one, two = (f"SELECT {cols} FROM read_parquet('{path}')" for path in (a, b))
    sql = f"SELECT count(*) FROM (({one} EXCEPT ALL {two}) UNION ALL ({two} EXCEPT ALL {one}))"
    with duckdb.connect() as con:
        return int(con.execute(sql).fetchall()[0][0])


# --- the orchestration: interleaved rounds, identity checks ----------------------------------


def run_child(*arguments: str) -> dict[str, Any]:
    return _report.run_child(__file__, *arguments)


def one_round(workload: str, db: Path, folder: Path) -> dict[str, dict[str, Any]]:
    """Herald then hand-written, once; raises SystemExit if their answers differ."""
    found = {}
    for side in SIDES:
        out = folder / f"{workload}-{side}.parquet"
        found[side] = run_child("--side", f"{workload}:{side}", "--db", str(db), "--out", str(out))
    if workload == "insights":
        if found["herald"]["result"] != found["hand"]["result"]:
            raise SystemExit(
                f"insights differ: {found['herald']['result']} {found['hand']['result']}"
            )
    else:
        a, b = (str(folder / f"campaign-{side}.parquet") for side in SIDES)
        differences = run_child("--side", "compare", "--db", a, "--out", b)["differences"]
        if differences or found["herald"]["result"] != found["hand"]["result"]:
            raise SystemExit(f"the campaign snapshots differ in {differences} rows")
    return found


def measure(db: Path, rounds: int) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every workload, ``rounds`` interleaved rounds of Herald and hand-written."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {
        workload: {side: [] for side in SIDES} for workload in WORKLOADS
    }
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        for number in range(1, rounds + 1):
            for workload in WORKLOADS:
                done = one_round(workload, db, Path(tmp))
                for side in SIDES:
                    found[workload][side].append(done[side])
                herald, hand = done["herald"], done["hand"]
                print(
                    f"  round {number} {workload}: Herald {herald['wall']:.2f} s wall "
                    f"{herald['cpu']:.2f} s CPU, hand {hand['wall']:.2f} s wall "
                    f"{hand['cpu']:.2f} s CPU, identical",
                    flush=True,
                )
    return found


# --- the report --------------------------------------------------------------------------------


def ratio(found: dict[str, list[dict[str, Any]]], key: str = "cpu_median") -> float:
    return summary(found["herald"])[key] / summary(found["hand"])[key]


TABLE_HEAD = """\
| customers | query | side | wall min | wall median | CPU min | CPU median | peak RSS |
|---:|---|---|---:|---:|---:|---:|---:|"""


def _rows(customers: int, found: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    lines = []
    for workload in WORKLOADS:
        for side, label in (("herald", "Herald"), ("hand", "hand-written")):
            s = summary(found[workload][side])
            lines.append(
                f"| {customers:,} | {workload} | {label} | {s['wall_min']:.2f} s "
                f"| {s['wall_median']:.2f} s | {s['cpu_min']:.2f} s | {s['cpu_median']:.2f} s "
                f"| {s['peak_rss_mb']:,.0f} MB |"
            )
    return lines


def _result_line(customers: int, found: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    metrics = found["insights"]["herald"][0]["result"]
    recipients = found["campaign"]["herald"][0]["result"]
    return (
        f"- {customers:,} customers: insights {metrics['unique_customers']:,} customers, "
        f"revenue 1y ${metrics['revenue_1y']:,.2f}; campaign {recipients:,} recipients."
    )


def report(args: argparse.Namespace, results: dict[int, dict[str, Any]]) -> str:
    sizes = sorted(results)
    ratios = "\n".join(
        f"| {n:,} | {ratio(results[n]['insights']):.2f} | {ratio(results[n]['campaign']):.2f} "
        f"| {ratio(results[n]['insights'], 'cpu_min'):.2f} "
        f"| {ratio(results[n]['campaign'], 'cpu_min'):.2f} |"
        for n in sizes
    )
    tables = "\n".join([TABLE_HEAD, *(line for n in sizes for line in _rows(n, results[n]))])
    compile_s = {
        n: statistics.median(r["compile_wall"] for r in results[n]["campaign"]["herald"])
        for n in sizes
    }
    compiles = ", ".join(f"{compile_s[n] * 1000:.0f} ms at {n:,}" for n in sizes)
    command = "python bench/sql_plans.py" + (
        "" if tuple(sizes) == SIZES else " --customers " + " ".join(str(n) for n in sizes)
    )
    growth = _growth(results)
    missing = "" if 10_000_000 in results else "\n10M customers not run this time (time budget).\n"
    return f"""## Herald's SQL against hand-written SQL (`bench/sql_plans.py`)

Command: `{command} --rounds {args.rounds}` · revision {git_revision()} · {dt.date.today()}
Machine: {machine()}
Data: the demo generator (seed 7, as of {AS_OF}), cached in bench/.data/.
Queries: the insights of `bench/segments.py`'s segment (`herald segment insights`) and the
audience build of `bench/campaigns.py`'s campaign (compile + one query to Parquet), against the
hand-written DuckDB SQL kept in the bench. Sides interleaved, {args.rounds} rounds, each side
in its own process; CPU is the process's (DuckDB's threads included); peak RSS is the highest
of the rounds. Every round the answers are identical: the same metrics, and the same
recipients in the same sub-audience and group with the same attributes.
{missing}
{tables}

Herald ÷ hand-written in CPU time (target ≤ {TARGET} at 5M and 10M):

| customers | insights (median) | campaign (median) | insights (min) | campaign (min) |
|---:|---:|---:|---:|---:|
{ratios}

{growth}
Herald's campaign compile (Python, sqlglot), median: {compiles}.

Results:
{chr(10).join(_result_line(n, results[n]) for n in sizes)}
"""


def _growth(results: dict[int, dict[str, Any]]) -> str:
    if 5_000_000 not in results or 10_000_000 not in results:
        return "Campaign CPU growth from 5M to 10M: not measured (both sizes are needed).\n"
    grow = {
        side: summary(results[10_000_000]["campaign"][side])["cpu_median"]
        / summary(results[5_000_000]["campaign"][side])["cpu_median"]
        for side in SIDES
    }
    return (
        f"Campaign build CPU from 5M to 10M customers (×2): Herald ×{grow['herald']:.2f}, "
        f"hand-written ×{grow['hand']:.2f}.\n"
    )


def profile_report(customers: int, profiles: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"Where the time goes at {customers:,} customers (DuckDB's EXPLAIN ANALYZE of the same",
        "SQL; operator seconds are summed over DuckDB's threads; the costliest operators):",
        "",
    ]
    for workload in WORKLOADS:
        for side, label in (("herald", "Herald"), ("hand", "hand-written")):
            found = profiles[f"{workload}:{side}"]
            scans = ", ".join(f"{table} ×{count}" for table, count in found["scans"].items())
            lines.append(
                f"- {workload}, {label}: {found['cpu']:.2f} s; tables scanned: {scans} "
                f"({found['rows_scanned']:,} rows read)."
            )
    lines += [
        "",
        "| query | side | operator | on | rows out | seconds |",
        "|---|---|---|---|---:|---:|",
    ]
    for workload in WORKLOADS:
        for side, label, top in (("herald", "Herald", 5), ("hand", "hand-written", 3)):
            for op in profiles[f"{workload}:{side}"]["operators"][:top]:
                detail = op["detail"].replace("|", "\\|")
                lines.append(
                    f"| {workload} | {label} | {op['name']} | {detail} | {op['rows']:,} "
                    f"| {op['seconds']:.2f} |"
                )
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", type=Path, help="Use this database (one size) instead.")
    parser.add_argument("--no-report", action="store_true", help="Do not write docs/benchmarks.md.")
    parser.add_argument("--json", type=Path, help="Also write every measure to this file.")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.side:
        print(json.dumps(child(args)))
        return
    if args.database and len(args.customers) != 1:
        raise SystemExit("--database needs exactly one --customers (its size)")
    results = {}
    for customers in args.customers:
        db = args.database or demo_database(customers, AS_OF)
        print(f"{customers:,} customers ({db.name}):", flush=True)
        results[customers] = measure(db, args.rounds)
    largest = max(results)
    db = args.database or demo_database(largest, AS_OF)
    profiles = {
        f"{workload}:{side}": run_child("--side", f"profile:{workload}:{side}", "--db", str(db))
        for workload in WORKLOADS
        for side in SIDES
    }
    body = report(args, results) + "\n" + profile_report(largest, profiles)
    if not args.no_report:
        write_section("sql_plans", body)
    if args.json:
        measures = {**{str(n): r for n, r in results.items()}, "profiles": profiles}
        args.json.write_text(json.dumps(measures, indent=1))
    print(body)


if __name__ == "__main__":
    main()
