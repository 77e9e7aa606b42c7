"""The scheduler's tick with 1,000 scheduled campaigns, on SQLite and on PostgreSQL.

Issue 10's target: a tick (finding the due runs) takes at most 50 ms on either store.

Each store holds ``--campaigns`` daily campaigns spread over the day's minutes (campaign i runs
at minute i mod 1440), scheduled with pinned versions. A round moves the scheduler's clock
one minute at a time for ``--ticks`` ticks, so one campaign comes due per tick, and
times each whole tick: reap ended workers, look for interrupted runs, read the due schedules,
compute each due slot, claim it (a write transaction) and start its worker (a stand-in that
ends at once: worker processes are not the tick's cost). The stores alternate, SQLite,
PostgreSQL, SQLite, … for ``--rounds`` rounds, each round in a fresh process.

    python bench/scheduler.py [--campaigns 1000] [--ticks 120] [--rounds 3]

Results go to docs/benchmarks.md (section "scheduler").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from _report import git_revision, machine, peak_rss_mb, write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

BUDGET_MS = 50.0
START = dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC)
STORES = ("sqlite", "postgres")


def definition(number: int) -> dict:
    minute = number % 1440
    return {
        "name": f"Campaign {number:04d}",
        "include": ["Email Opted In"],
        "remaining": {"groups": [{"name": "All", "percent": 100, "destinations": ["files"]}]},
        "delivery": {
            "schedule": "recurring",
            "cadence": "daily",
            "start": f"2026-12-01 {minute // 60:02d}:{minute % 60:02d}",
            "timezone": "UTC",
        },
    }


def populate(root: Path, campaigns: int) -> None:
    """Store and schedule the campaigns directly (the tick, not validation, is measured)."""
    from herald.campaigns import first_slots
    from herald.core.campaigns.parse import parse_campaign
    from herald.workspace import Workspace

    with Workspace.open(root) as ws:
        for number in range(campaigns):
            doc = definition(number)
            ws.store.apply("campaign", doc["name"], doc, status="active")
            slots = first_slots(parse_campaign(doc), START, count=1)
            ws.store.schedule_campaign(
                doc["name"], 1, {"Email Opted In": 1}, scheduled_at=START, next_at=slots[0]
            )


class _Ended:
    """A worker that has already ended: the tick's own cost is measured, not a process's."""

    pid = 0

    def poll(self) -> int:
        return 0


def side(root: Path, ticks: int, first: int) -> dict:
    """One round in this process: ``ticks`` ticks one minute apart, from minute ``first`` of
    the day (each round goes on where the last one stopped, so every tick has due work)."""
    from herald.config import SchedulerSettings
    from herald.runs.scheduler import Scheduler
    from herald.workspace import Workspace

    with Workspace.open(root) as ws:
        now = START + dt.timedelta(minutes=first)
        loop = Scheduler(
            ws, SchedulerSettings(), clock=lambda: now, launch=lambda _ws, _run: _Ended()
        )
        loop.tick()  # warm: connections, the pinned definitions' first parse
        walls, cpus, started = [], [], 0
        for _ in range(ticks):
            now += dt.timedelta(minutes=1)
            wall, cpu = time.perf_counter(), time.process_time()
            report = loop.tick()
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            started += len(report.started)
            _settle(ws, report.started)
        finds = _all_due(ws, now + dt.timedelta(days=2))
    return {
        "wall_ms": walls,
        "cpu_ms": cpus,
        "find_ms": finds,
        "started": started,
        "rss_mb": peak_rss_mb(),
    }


def _all_due(ws: object, later: dt.datetime, times: int = 20) -> list[float]:
    """The worst case of finding due runs: every schedule due at once (read, not claimed)."""
    found = []
    for _ in range(times):
        wall = time.perf_counter()
        due = ws.store.due_schedules(later)  # type: ignore[attr-defined]
        found.append((time.perf_counter() - wall) * 1000)
    assert len(due) == len(ws.store.list("campaign"))  # type: ignore[attr-defined]
    return found


def _settle(ws: object, run_ids: list[str]) -> None:
    """End the runs the tick started (outside the timing), as their workers would."""
    for run_id in run_ids:
        ws.store.finish_run(run_id, "delivered", campaign_status="delivered")  # type: ignore[attr-defined]


def workspace(folder: Path, url: str | None, campaigns: int) -> Path:
    from herald.state import StateStore
    from herald.workspace import Workspace

    root = folder / "ws"
    Workspace.init(root).close()
    if url is not None:
        config = root / "herald.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace('url = "sqlite:///.herald/state.db"', f'url = "{url}"'))
        StateStore.open(url, create=True).close()  # as `herald init` would
    populate(root, campaigns)
    return root


def run_side(root: Path, ticks: int, first: int) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--side",
            str(root),
            "--ticks",
            str(ticks),
            "--first",
            str(first),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-report", action="store_true", help="Do not write docs/benchmarks.md.")
    parser.add_argument("--side", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(side(args.side, args.ticks, args.first)))
        return
    from postgres_server import throwaway_cluster

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-")))
        server = stack.enter_context(throwaway_cluster())
        roots = {
            "sqlite": workspace(folder / "sqlite", None, args.campaigns),
            "postgres": workspace(folder / "postgres", server, args.campaigns),
        }
        found: dict[str, list[dict]] = {store: [] for store in STORES}
        for number in range(args.rounds):
            for store in STORES:  # interleaved, so a noisy moment hits both
                result = run_side(roots[store], args.ticks, number * (args.ticks + 1))
                found[store].append(result)
                print(
                    f"round {number + 1}, {store}: median tick "
                    f"{statistics.median(result['wall_ms']):.1f} ms",
                    flush=True,
                )
    body = report(args, found)
    if not args.no_report:
        write_section("scheduler", body)
    print(body)


def report(args: argparse.Namespace, found: dict[str, list[dict]]) -> str:
    lines = [
        "## Scheduler tick (`bench/scheduler.py`)",
        "",
        f"Command: `python bench/scheduler.py` · revision {git_revision()} · {dt.date.today()}",
        f"Machine: {machine()}; shared, so the stores alternate round by round.",
        f"Data: {args.campaigns:,} daily campaigns, campaign i at minute i of the day, scheduled "
        f"with pinned versions; {args.rounds} rounds of {args.ticks} ticks one minute apart, each "
        "round going on where the last stopped, so every tick finds one campaign due and claims "
        "its slot in a write transaction (the run's worker is a stand-in that ends at once). "
        "PostgreSQL is a local throwaway cluster (its server's CPU is not in the CPU column).",
        "",
        "| store | tick wall, min / median / p95 | tick CPU, min / median | peak RSS "
        "| runs started | median ÷ 50 ms budget | all due at once: finding them, median |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for store, rounds in found.items():
        walls = [w for r in rounds for w in r["wall_ms"]]
        cpus = [c for r in rounds for c in r["cpu_ms"]]
        p95 = statistics.quantiles(walls, n=20)[-1]
        ratio = statistics.median(walls) / BUDGET_MS
        verdicts.append(p95 <= BUDGET_MS)
        lines.append(
            f"| {store} | {min(walls):.1f} / {statistics.median(walls):.1f} / {p95:.1f} ms | "
            f"{min(cpus):.1f} / {statistics.median(cpus):.1f} ms | "
            f"{max(r['rss_mb'] for r in rounds):.0f} MB | "
            f"{sum(r['started'] for r in rounds)} | {ratio:.2f}× | "
            f"{statistics.median(f for r in rounds for f in r['find_ms']):.1f} ms |"
        )
    verdict = "PASS" if all(verdicts) else "FAIL"
    lines += ["", f"Every store's p95 tick within 50 ms: **{verdict}**"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
