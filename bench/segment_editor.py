"""Benchmark: the Segment Editor's library calls on 1M customers.

- **Refresh**: a five-condition segment's insights (stored, as the editor's Refresh does) and
  its narrowing waterfall (one query), one after the other;
- **picklist** of a 1M-row column (``Customer_360.city``), cold (Herald's cache emptied; the
  engine's own buffers stay as they are) and warm (the cached answer), and the same for a
  column with too many values to list (``Merged_Customers.address``: an estimate only).

Rounds are interleaved (Refresh, cold, warm, …), so a slow spell of the shared machine hits
every measure alike. Wall and CPU time (this process, DuckDB's threads included).

    python bench/segment_editor.py              # 1M customers, 5 rounds
    python bench/segment_editor.py --rounds 3

Results go to docs/benchmarks.md (section "segment_editor").
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import demo_database, git_revision, machine, peak_rss_mb, write_section

AS_OF = dt.date(2026, 6, 30)
REFRESH_TARGET, PICKLIST_TARGET = 1.5, 0.5
SEGMENT = {
    "name": "Bench Editor Five Conditions",
    "where": {
        "all": [
            {"attribute": "Customer_360.state", "op": "in list", "values": ["CA", "NY", "TX"]},
            {"attribute": "Customer_Attributes.is_opted_into_email", "op": "is true"},
            {
                "attribute": "Transaction_Attributes_Extended.lifetime_order_revenue",
                "op": ">",
                "value": 200,
            },
            {
                "attribute": "Transaction_Attributes_Extended.latest_order_datetime",
                "op": "after",
                "value": "6 months ago",
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
PICKLISTS = {"city": ("Customer_360", "city"), "address": ("Merged_Customers", "address")}


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def run(db: Path, rounds: int) -> tuple[dict[str, list[tuple[float, float]]], dict[str, Any]]:
    import herald.segments as segments_module
    from herald.core.segments import parse_segment
    from herald.workspace import Workspace

    measures: dict[str, list[tuple[float, float]]] = {}
    seen: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, Workspace.init(tmp, database=str(db)) as ws:
        segment = parse_segment(SEGMENT)
        ws.segments.create(segment)

        def refresh() -> Any:
            insights = ws.segments.insights(segment.name, today=AS_OF)
            return insights, ws.segments.waterfall(segment, today=AS_OF)

        parts: dict[str, Callable[[], Any]] = {
            "refresh": refresh,
            "insights": lambda: ws.segments.insights(segment.name, today=AS_OF),
            "waterfall": lambda: ws.segments.waterfall(segment, today=AS_OF),
        }
        for _ in range(rounds):
            for key, action in parts.items():
                wall, cpu, seen[key] = timed(action)
                measures.setdefault(key, []).append((wall, cpu))
            for key, (table, column) in PICKLISTS.items():
                segments_module._PICKLISTS = segments_module._Cache(256)  # Herald's cache only
                for state in ("cold", "warm"):
                    wall, cpu, seen[key] = timed(
                        lambda t=table, c=column: ws.segments.picklist(t, c)
                    )
                    measures.setdefault(f"{key} {state}", []).append((wall, cpu))
    return measures, seen


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def row(label: str, times: list[tuple[float, float]], target: float | None) -> str:
    walls, cpus = [w for w, _ in times], [c for _, c in times]
    ratio = f"{statistics.median(walls) / target:.2f}" if target else "–"
    return (
        f"| {label} | {ms(min(walls))} | {ms(statistics.median(walls))} "
        f"| {ms(min(cpus))} | {ms(statistics.median(cpus))} "
        f"| {ms(target) if target else '–'} | {ratio} |"
    )


def report(args: argparse.Namespace, measures: dict[str, Any], seen: dict[str, Any]) -> str:
    insights, steps = seen["refresh"]
    city, address = seen["city"], seen["address"]
    waterfall = " → ".join(f"{s.customers:,}" for s in steps)
    labels = {
        "refresh": "**Refresh**: insights + waterfall",
        "insights": "  insights alone (stored)",
        "waterfall": "  waterfall alone (one query)",
        "city cold": "picklist `Customer_360.city`, cold",
        "city warm": "picklist `Customer_360.city`, warm",
        "address cold": "picklist `Merged_Customers.address` (too many), cold",
        "address warm": "picklist `Merged_Customers.address` (too many), warm",
    }
    targets = {k: PICKLIST_TARGET for k in labels if k.startswith(("city", "address"))}
    targets["refresh"] = REFRESH_TARGET
    rows = "\n".join(row(labels[k], measures[k], targets.get(k)) for k in labels)
    return f"""## Segment Editor: Refresh and picklists (`bench/segment_editor.py`)

Command: `python bench/segment_editor.py --customers {args.customers} --rounds {args.rounds}` ·
revision {git_revision()} · {dt.date.today()}
Machine: {machine()}
Data: {args.customers:,} customers (demo generator, seed 7, as of {AS_OF}).
Segment: state in 3 states AND opted into email AND lifetime revenue > $200 AND latest order
after 6 months ago AND has purchased online at least twice in 12 months:
{insights.unique_customers:,} customers; waterfall {waterfall} (one query).
Picklists: `city` {city.distinct:,} values listed; `address` about {address.distinct:,}
values, so none listed (type to search).

{args.rounds} interleaved rounds; CPU is this process's (DuckDB's threads included); ratio =
median wall / target (≤ 1 meets it). Peak RSS {peak_rss_mb():,.0f} MB.

| measure | wall min | wall median | CPU min | CPU median | target | ratio |
|---|---|---|---|---|---|---|
{rows}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    db = demo_database(args.customers, AS_OF).resolve()
    measures, seen = run(db, args.rounds)
    body = report(args, measures, seen)
    write_section("segment_editor", body)
    print(body)


if __name__ == "__main__":
    main()
