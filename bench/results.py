"""Benchmark: campaign results (lift against the control group) for 1M recipients.

A campaign of about 1M recipients (every customer in CA or TX: 1,040,554 of the 5M-customer
demo database, whose ``Unified_Transactions`` has 50M orders) is run once, untimed, as
``herald campaign run`` runs it: audience build, delivery to the ``files`` destination
(``csv_file``) and its recipients log. Two sub-audiences (VIP, the rest) of three groups each
(45/45/10 control), a launch date two months before the data's as-of date, so that the 30-day
window and the pre-period (CUPED) both hold orders.

Then ``campaign_results`` (what ``herald campaign results`` runs: the one engine query over the
recipients log and ``Unified_Transactions``, then the statistics) is timed, each round in a
fresh process so that its peak RSS is its own; CPU time is the whole process's (DuckDB's
threads included) over the timed call. Every round must give the same counts and revenue (the
float sums to 1e-9).

    python bench/results.py                    # 5M customers, 50M transactions
    python bench/results.py --rounds 3

Databases come from the demo generator and are kept in bench/.data/ (as the other benches).
Results go to docs/benchmarks.md (section "results").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report
from _report import demo_database, git_revision, machine, peak_rss_mb, summary, write_section

AS_OF = dt.date(2026, 6, 30)
CUSTOMERS = 5_000_000  # 50M Unified_Transactions rows (about 10 orders per customer)
LAUNCH = dt.date(2026, 5, 1)
WINDOW_DAYS = 30
TARGET = 5.0  # seconds, wall (issue 14)
NAME = "Bench Results"
STATES = ["CA", "TX"]
SEGMENTS = [
    {
        "name": "R Bench States",
        "status": "active",
        "where": {"attribute": "Customer_360.state", "op": "in list", "values": STATES},
    },
    {
        "name": "R VIP",
        "status": "active",
        "where": {
            "attribute": "Transaction_Attributes_Extended.lifetime_order_revenue",
            "op": ">",
            "value": 2000,
        },
    },
]


def groups(prefix: str) -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix} A", "percent": 45, "destinations": ["files"]},
        {"name": f"{prefix} B", "percent": 45, "destinations": ["files"]},
        {"name": f"{prefix} Control", "percent": 10, "control": True},
    ]


EVERYONE = {"name": "R Everyone", "status": "active"}  # no condition: every customer
CAMPAIGN = {
    "kind": "campaign",
    "name": NAME,
    "include": ["R Bench States"],
    "sub_audiences": [{"name": "VIP", "segment": "R VIP", "groups": groups("VIP")}],
    "remaining": {"groups": groups("Others")},
    "launch_date": LAUNCH.isoformat(),
}


# --- the two steps, each in its own process ---------------------------------------------------


def prepare(db: Path, root: Path, everyone: bool, memory_limit: str | None) -> dict[str, Any]:
    """A workspace over ``db`` in ``root`` and one delivered run of the campaign (untimed);
    with ``everyone``, its audience is every customer (the scale check); with
    ``memory_limit``, the engine's ``[engine] memory_limit``."""
    from herald.core.segments import parse_segment
    from herald.runs.pipeline import run_campaign
    from herald.workspace import Workspace

    started = time.perf_counter()
    Workspace.init(root, database=str(db)).close()
    if memory_limit:
        config = root / "herald.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("[engine]\n", f'[engine]\nmemory_limit = "{memory_limit}"\n', 1),
            encoding="utf-8",
        )
    with Workspace.open(root) as ws:
        for doc in [*SEGMENTS, EVERYONE]:
            ws.segments.apply(parse_segment(doc))
        ws.campaigns.apply({**CAMPAIGN, "include": ["R Everyone"]} if everyone else CAMPAIGN)
        result = run_campaign(ws, NAME, today=AS_OF)
    run = result.run
    if run.status != "delivered":
        raise SystemExit(f"the run ended {run.status}: {run.error}")
    return {"run_id": run.id, "seconds": time.perf_counter() - started}


def measure_once(root: Path) -> dict[str, Any]:
    """``campaign_results`` of the run, timed: wall and CPU seconds, the sums, peak RSS."""
    from herald.runs.results import campaign_results
    from herald.workspace import Workspace

    moment = dt.datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=dt.UTC)
    with Workspace.open(root) as ws:
        # Opened before the timer, as the workspace is: a fixed cost of every command (mostly
        # importing the state store's modules), not of the results.
        ws.store  # noqa: B018
        wall, cpu = time.perf_counter(), time.process_time()
        found = campaign_results(ws, NAME, window_days=WINDOW_DAYS, as_of=moment)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    [section] = found.sections  # one run: its section is the pooled one
    groups = [
        {
            "group": g.group,
            "is_control": g.is_control,
            "revenue_total": str(g.revenue_total),
            **{name: getattr(g.sums, name) for name in g.sums.__dataclass_fields__},
            "lift": None if g.lift is None else _lift(g.lift),
        }
        for g in section.groups
    ]
    return {"wall": wall, "cpu": cpu, "groups": groups, "peak_rss_mb": peak_rss_mb()}


def _lift(lift: Any) -> dict[str, Any]:
    return {
        name: [e.value, e.low, e.high, e.p_value]
        for name, e in (("conversion", lift.conversion), ("revenue", lift.revenue))
    }


# --- the orchestration ------------------------------------------------------------------------


def run_child(*arguments: str) -> dict[str, Any]:
    return _report.run_child(__file__, *arguments)


def measure(
    db: Path, rounds: int, folder: Path, everyone: bool, memory_limit: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    root = folder / "workspace"
    print(f"running the campaign over {db.name} (untimed) …", flush=True)
    extra = ["--everyone"] if everyone else []
    extra += ["--memory-limit", memory_limit] if memory_limit else []
    prepared = run_child("--step", "prepare", "--db", str(db), "--root", str(root), *extra)
    runs = []
    for number in range(1, rounds + 1):
        done = run_child("--step", "measure", "--root", str(root))
        if runs and not same_results(done["groups"], runs[0]["groups"]):
            raise SystemExit(f"round {number} gave other results than round 1")
        runs.append({**done, "load": _load()})
        print(
            f"  round {number}: {done['wall']:.2f} s wall, {done['cpu']:.2f} s CPU, "
            f"{done['peak_rss_mb']:,.0f} MB peak RSS (load {runs[-1]['load']})",
            flush=True,
        )
    return prepared, runs


def same_results(one: list[dict[str, Any]], two: list[dict[str, Any]]) -> bool:
    """Counts and exact revenue equal; the float sums (and the statistics from them) equal
    to 1e-9 relative: DuckDB's threads add doubles in no fixed order."""
    flat = [(_flatten(a), _flatten(b)) for a, b in zip(one, two, strict=False)]
    return len(one) == len(two) and all(
        a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a) for a, b in flat
    )


def _flatten(group: dict[str, Any]) -> dict[str, Any]:
    lift = group["lift"] or {}
    estimates = {f"{name}{i}": v for name, values in lift.items() for i, v in enumerate(values)}
    return {**{k: v for k, v in group.items() if k != "lift"}, **estimates}


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --- the report -------------------------------------------------------------------------------


def _group_rows(groups: list[dict[str, Any]]) -> str:
    lines = [
        "| group | recipients | purchasers | revenue | conversion lift (95 % interval) |",
        "|---|---:|---:|---:|---|",
    ]
    for g in groups:
        lift = "control" if g["is_control"] else "no control"
        if g["lift"] is not None:
            value, low, high, _ = g["lift"]["conversion"]
            lift = f"{value:+.4f} ({low:+.4f} to {high:+.4f})"
        lines.append(
            f"| {g['group']} | {g['recipients']:,} | {g['purchasers']:,} "
            f"| ${float(g['revenue_total']):,.2f} | {lift} |"
        )
    return "\n".join(lines)


def report(args: argparse.Namespace, customers: int, rows: int, runs: list[dict[str, Any]]) -> str:
    s = summary(runs)
    recipients = sum(g["recipients"] for g in runs[0]["groups"])
    verdict = "met" if s["wall_median"] <= TARGET else "**missed**"
    target = (
        "The scale check (issue 14): 10M recipients over 100M transactions in a few GB; the "
        "engine's memory limit: " + (args.memory_limit or "none (DuckDB's default, 80 % of RAM)")
        if args.everyone
        else f"Target: ≤ {TARGET:.0f} s (wall, median) for 1M recipients: {verdict}."
    )
    command = (
        "python bench/results.py"
        + (f" --customers {customers}" if customers != CUSTOMERS else "")
        + (" --everyone" if args.everyone else "")
    )
    audience = "every customer" if args.everyone else f"every customer in {' or '.join(STATES)}"
    loads = ", ".join(r["load"] for r in runs)
    title = "at scale: every customer" if args.everyone else "(`bench/results.py`)"
    return f"""## Campaign results {title}

Command: `{command} --rounds {args.rounds}` · revision {git_revision()} · {dt.date.today()}
Machine: {machine()}
Load average (1, 5, 15 min) after each round, the machine being shared: {loads}
Data: {customers:,} customers, {rows:,} `Unified_Transactions` rows (demo generator, seed 7,
as of {AS_OF}), cached in bench/.data/.
Campaign: {audience} ({recipients:,} recipients), sub-audiences
VIP and the rest, 3 groups each (45/45/10 control) delivered to `files` (`csv_file`) by one
untimed `run_campaign` (its salt is the workspace's: the split differs from one invocation to
the next); launch date {LAUNCH}, window {WINDOW_DAYS} days, as of {AS_OF}.
Timed: `campaign_results` (the engine query over the recipients log and the transactions,
then the statistics with CUPED), {args.rounds} rounds, each in a fresh process (the workspace
and its state store opened before the timer; DuckDB's buffers cold); CPU is the
process's (DuckDB's threads included); peak RSS is the highest of the rounds. Every round gives
the same counts and revenue to the cent (float sums equal to 1e-9: DuckDB's threads add them
in no fixed order).

| recipients | wall min | wall median | CPU min | CPU median | peak RSS |
|---:|---:|---:|---:|---:|---:|
| {recipients:,} | {s["wall_min"]:.2f} s | {s["wall_median"]:.2f} s | {s["cpu_min"]:.2f} s \
| {s["cpu_median"]:.2f} s | {s["peak_rss_mb"]:,.0f} MB |

{target}

{_group_rows(runs[0]["groups"])}
"""


def transactions(db: Path) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM Unified_Transactions").fetchall()[0][0])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", type=Path, help="Use this database (of --customers).")
    parser.add_argument("--no-report", action="store_true", help="Do not write docs/benchmarks.md.")
    parser.add_argument("--json", type=Path, help="Also write every measure to this file.")
    parser.add_argument(
        "--everyone",
        action="store_true",
        help="Every customer is a recipient (the scale check: 10M recipients with "
        "--customers 10000000); written to the section results_everyone.",
    )
    parser.add_argument(
        "--memory-limit", help="The engine's [engine] memory_limit, such as 3GB (default: none)."
    )
    parser.add_argument("--step", choices=["prepare", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.step == "prepare":
        print(json.dumps(prepare(args.db, args.root, args.everyone, args.memory_limit)))
        return
    if args.step == "measure":
        print(json.dumps(measure_once(args.root)))
        return
    if args.rounds < 1:
        raise SystemExit("--rounds needs at least 1")
    db = (args.database or demo_database(args.customers, AS_OF)).resolve()
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        prepared, runs = measure(db, args.rounds, Path(tmp), args.everyone, args.memory_limit)
    body = report(args, args.customers, transactions(db), runs)
    if not args.no_report:
        write_section("results_everyone" if args.everyone else "results", body)
    if args.json:
        args.json.write_text(json.dumps({"prepared": prepared, "rounds": runs}, indent=1))
    print(body)


if __name__ == "__main__":
    main()
