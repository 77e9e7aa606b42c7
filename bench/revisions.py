"""Benchmark: this revision against an earlier one, on the hot paths, interleaved.

Runs the Herald side of ``bench/campaigns.py`` (the 5M-customer audience build to Parquet) and
of ``bench/klaviyo_sync.py`` (a 1M-profile first sync and a 1 %-churn incremental sync of a
Klaviyo list, with their estimates, against the sandbox with Klaviyo's real limits) from two
source trees: the earlier revision (checked out in a temporary git worktree) and this one.
The contenders alternate, A, B, A, B …, for ``--rounds`` rounds, each in a process of its own,
on the same data (a fresh copy per run where the run changes it) and the same sandbox code
(this revision's); process CPU time and peak RSS come from the child's own resource usage.

    python bench/revisions.py --old d66f7ed                 # 3 rounds, full sizes
    python bench/revisions.py --old HEAD~1 --rounds 1 --campaign-customers 200000 \\
        --sync-customers 60000                              # a quick check

Results go to docs/benchmarks.md (section "revisions").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import git_revision, machine, write_section

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """The earlier revision's source tree, in a temporary git worktree."""
    folder = Path(tempfile.mkdtemp(prefix="herald-old-"))
    tree = folder / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


def measured(command: list[str], tree: Path, env: dict[str, str] | None = None) -> dict:
    """Run one contender's child from ``tree`` (its ``herald`` first on the path); its JSON
    result, wall time, CPU time (user + system) and peak RSS."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=tree, env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{command[1]} failed in {tree} ({child.returncode})")
    return {
        "result": json.loads(out.strip().splitlines()[-1]),
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
    }


def campaigns_run(tree: Path, db: Path, tmp: Path) -> dict:
    out = tmp / "snapshot.parquet"
    command = [sys.executable, "bench/campaigns.py", "--side", "herald", "--db", str(db),
               "--out", str(out)]  # fmt: skip
    found = measured(command, tree)
    out.unlink(missing_ok=True)
    return {"audience build": {**found, "step": found["result"]["seconds"], "process": "build"}}


def sync_run(tree: Path, base: Path, tmp: Path, churn: float) -> dict:
    from klaviyo_sync import free_port, start_sandbox, stop

    db = tmp / "customers.duckdb"
    shutil.copyfile(base, db)  # churn edits it
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sandbox = start_sandbox(port, 0.01, tmp / "sandbox.log")  # this revision's sandbox
    try:
        command = [sys.executable, "bench/klaviyo_sync.py", "--side", "herald", "--db", str(db),
                   "--out", str(tmp / "herald.json"), "--churn", str(churn), "--url", url,
                   "--poll-interval", "2"]  # fmt: skip
        found = measured(command, tree)
    finally:
        stop(sandbox)
        db.unlink(missing_ok=True)
    runs = {run["label"]: run for run in found["result"]["runs"]}
    return {
        label: {**found, "step": run["seconds"], "process": "syncs"} for label, run in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="The earlier revision (a git revision).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--campaign-customers", type=int, default=5_000_000)
    parser.add_argument("--sync-customers", type=int, default=1_060_000)
    parser.add_argument("--churn", type=float, default=0.01)
    parser.add_argument("--no-report", action="store_true", help="Do not write docs/benchmarks.md.")
    args = parser.parse_args()

    import campaigns
    import klaviyo_sync

    campaign_db = campaigns.database(args.campaign_customers)
    sync_db = klaviyo_sync.database(args.sync_customers)
    old_revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.old],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    found: dict[str, dict[str, list[dict]]] = {"old": {}, "new": {}}
    with worktree(args.old) as old_tree, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        trees = {"old": old_tree, "new": ROOT}
        for n in range(args.rounds):
            for side in ("old", "new"):  # A, B, A, B …
                results = {
                    **campaigns_run(trees[side], campaign_db, tmp),
                    **sync_run(trees[side], sync_db, tmp, args.churn),
                }
                for step, figures in results.items():
                    found[side].setdefault(step, []).append(figures)
                    print(f"round {n + 1} {side} {step}: {figures['step']:.2f} s", flush=True)
    body = report(args, old_revision, found)
    if not args.no_report:
        write_section("revisions", body)
    print(body)


def report(args: argparse.Namespace, old: str, found: dict[str, dict[str, list[dict]]]) -> str:
    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    rows = []
    for step, old_runs in found["old"].items():
        new_runs = found["new"][step]
        o = [r["step"] for r in old_runs]
        w = [r["step"] for r in new_runs]
        rows.append(
            f"| {step} | {min(o):.2f} / {med(o):.2f} s | {min(w):.2f} / {med(w):.2f} s | "
            f"{med(w) / med(o):.2f} |"
        )
    process = []
    for kind, label in (("build", "audience build"), ("syncs", "list syncs and estimates")):
        for side in ("old", "new"):
            runs = [r for step in found[side].values() for r in step if r["process"] == kind]
            once = list({id(r["result"]): r for r in runs}.values())  # a process per run
            walls, cpus = [r["wall"] for r in once], [r["cpu"] for r in once]
            process.append((f"{label}, {side}", walls, cpus, max(r["rss_mb"] for r in once)))
    lines = [
        "## This revision against an earlier one (`bench/revisions.py`)",
        "",
        f"Command: `python bench/revisions.py --old {args.old}` (old = {old}, new = "
        f"{git_revision()}) · {dt.date.today()}",
        f"Machine: {machine()}; shared, so old and new alternate run by run, {args.rounds} rounds.",
        f"Data: the audience build of `bench/campaigns.py` on {args.campaign_customers:,} "
        f"customers; the list syncs of `bench/klaviyo_sync.py` on {args.sync_customers:,} "
        "customers (a fresh database copy and sandbox per run, this revision's "
        f"sandbox for both, {args.churn:.0%} churn before the incremental sync).",
        "",
        "Step time as each benchmark measures it (min / median), and new ÷ old of the medians "
        "(below 1: faster now):",
        "",
        "| step | old | new | new ÷ old |",
        "|---|---|---|---|",
        *rows,
        "",
        "Whole processes (a process per run: the audience build; the two list syncs with "
        "their estimates):",
        "",
        "| process | wall, min / median | CPU, min / median | peak RSS |",
        "|---|---|---|---|",
        *(
            f"| {side} | {min(w):.1f} / {med(w):.1f} s | {min(c):.1f} / {med(c):.1f} s "
            f"| {rss:,.0f} MB |"
            for side, w, c, rss in process
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
