"""Benchmark: the same insights, campaign build and list diff on DuckDB and on Spark (local mode).

Three workloads, the first two those of ``bench/sql_plans.py`` (so the benches agree):

- the insights of the segment of ``bench/segments.py`` (four conditions, one of them
  "has purchased"), as ``herald segment insights`` runs them (``ws.segments.insights``);
- the campaign of ``bench/campaigns.py`` (1 include and 2 exclude segments, 3 sub-audiences of
  3 groups), built as a run builds it (``ws.campaigns.build`` + ``write_snapshot`` to Parquet);
- the largest group of that campaign as a Klaviyo list (email, external id, first and last name),
  prepared and diffed as a run does: on DuckDB, prepared here into ``desired.parquet`` and
  diffed over it; on Spark, prepared and diffed in Spark, only the changes streamed back. The
  list's ledger is the first DuckDB round's desired records with 1 in 64 keys left out (adds),
  1 in 64 with another hash (updates), and 1 in 64 keys that left (removes). The snapshot is
  built untimed; the timed work is the staging and the diff.

Each engine runs them from a workspace of its own: ``[engine] database`` on the demo's DuckDB
file, or ``[engine] name = "spark"``, ``master = "local[2]"`` and ``[engine.tables]`` on the
same tables exported once to Parquet (a lake folder beside the database in bench/.data/). The
engines run interleaved, DuckDB, Spark, DuckDB, Spark …, each in a fresh process. Each side
reports the whole command (from its process's start: Python, imports, the engine's start,
the workspace, the work) and, apart, the query once the engine is up; Spark's session start
is a fixed cost of some seconds that a long-lived process pays once.

CPU time and peak RSS are the process tree's: Spark runs in a JVM, a child of the Python
driver, so the side reads its own and its live children's CPU times (psutil, reaped children
included) and the peak RSS of each (``VmHWM`` in /proc), summed, before it exits.

Every round checks that the engines agree: the same insights numbers, the same snapshot rows
(the same recipients in the same sub-audience and group with the same attributes), and the
same diff files (adds, updates, removes: the same rows, numbered alike) and counts.

    python bench/engines.py                                      # 5M customers
    python bench/engines.py --customers 100000 --rounds 1        # a quick look

Results go to docs/benchmarks.md (section "engines").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
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
from _report import (
    DATA,
    demo_database,
    git_revision,
    machine,
    process_peak_rss_mb,
    summary,
    write_section,
)

from herald.engines.spark import local_driver_memory

AS_OF = segment_bench.AS_OF
assert campaign_bench.AS_OF == AS_OF
SIZES = (5_000_000,)
WORKLOADS = ("insights", "campaign", "diff")
ENGINES = ("duckdb", "spark")
MASTER = "local[2]"


# --- the process tree's measures ---------------------------------------------------------------


def tree_cpu() -> float:
    """CPU seconds of this process, its reaped children and its live descendants (the JVM)."""
    import psutil

    me = psutil.Process()
    times = me.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in me.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += child_times.user + child_times.system
    return total


def tree_peak_rss_mb() -> dict[str, float]:
    """Peak resident memory (``VmHWM``) of this process and of its live descendants, in MB."""
    import psutil

    peaks = {"python": process_peak_rss_mb(os.getpid()) or 0.0}
    for child in psutil.Process().children(recursive=True):
        peak = process_peak_rss_mb(child.pid) or 0.0
        if peak:
            name = "jvm" if "java" in child.name() else child.name()
            peaks[name] = peaks.get(name, 0.0) + peak
    return peaks


def since_start() -> float:
    """Wall seconds since this process started."""
    import psutil

    return time.time() - psutil.Process().create_time()


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """``work()``'s value, wall seconds and the process tree's CPU seconds."""
    wall, cpu = time.perf_counter(), tree_cpu()
    value = work()
    return value, time.perf_counter() - wall, tree_cpu() - cpu


# --- the data: the demo database, and its tables as Parquet for Spark -------------------------


def lake_folder(db: Path) -> Path:
    """Where the Parquet copy of ``db`` lives: in bench/.data/ for a bench database, beside a
    database given with --database."""
    folder = DATA if db.resolve().parent == DATA.resolve() or db.parent == DATA else db.parent
    return folder / f"{db.stem}-lake"


def export_lake(db: Path, lake: Path) -> dict[str, Any]:
    """Every table of ``db`` as a folder of Parquet under ``lake``, written once (into a
    temporary folder renamed at the end, so that an interrupted export is not reused)."""
    import duckdb

    started = time.perf_counter()
    partial = lake.with_name(lake.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with duckdb.connect(str(db), read_only=True) as con:
        names = [row[0] for row in con.execute("SHOW TABLES").fetchall()]
        for name in names:
            where = partial / name
            where.mkdir(parents=True)
            target = str(where / "part-0.parquet").replace("'", "''")
            con.execute(f"COPY \"{name}\" TO '{target}' (FORMAT parquet)")
    partial.rename(lake)
    return {"seconds": time.perf_counter() - started, "tables": names}


def lake_tables(lake: Path) -> dict[str, str]:
    return {p.name: str(p.resolve()) for p in sorted(lake.iterdir()) if p.is_dir()}


def lake_mb(lake: Path) -> float:
    return sum(p.stat().st_size for p in lake.rglob("*.parquet")) / 2**20


def workspace_settings(engine: str, db: Path, lake: Path, memory: str | None = None) -> str:
    """The herald.toml of one side: the default one, with its [engine] section for ``engine``
    (and for Spark the driver's memory, ``memory``, when given)."""
    from herald.config import DEFAULT_TOML

    text = DEFAULT_TOML.format(database=str(db.resolve()))
    if engine == "duckdb":
        return text
    duckdb_section = f'[engine]\nname = "duckdb"\ndatabase = "{db.resolve()}"\n'
    assert duckdb_section in text, "the default herald.toml's [engine] section changed"
    tables = "".join(f'{name} = "{where}"\n' for name, where in lake_tables(lake).items())
    limit = f'memory_limit = "{memory}"\n' if memory else ""
    spark_section = (
        f'[engine]\nname = "spark"\nmaster = "{MASTER}"\n{limit}\n[engine.tables]\n{tables}'
    )
    return text.replace(duckdb_section, spark_section)


# --- one side, in its own process ------------------------------------------------------------


def run_side(
    workload: str, engine: str, db: Path, lake: Path, out: Path, memory: str | None
) -> dict[str, Any]:
    from herald.core.segments import parse_segment
    from herald.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "herald.toml").write_text(workspace_settings(engine, db, lake, memory))
        with Workspace.init(tmp) as ws:
            _, start_wall, _ = timed(lambda: ws.engine)
            if workload == "insights":
                ws.segments.apply(parse_segment(segment_bench.SEGMENT))
                found = _insights(ws)
            else:
                for doc in campaign_bench.SEGMENTS:
                    ws.segments.apply(parse_segment(doc))
                ws.campaigns.apply(campaign_bench.CAMPAIGN)
                found = _campaign(ws, out) if workload == "campaign" else _list_diff(ws, out)
    return {
        **found,
        "engine_start": start_wall,
        "command_wall": since_start(),
        "command_cpu": tree_cpu(),
        "peak_rss": tree_peak_rss_mb(),
    }


def _insights(ws: Any) -> dict[str, Any]:
    name = segment_bench.SEGMENT["name"]
    # What `herald segment insights NAME` runs: compile, one query, record the refresh.
    found, wall, cpu = timed(lambda: ws.segments.insights(name, "active", today=AS_OF))
    return {"wall": wall, "cpu": cpu, "result": found.as_dict()}


def _campaign(ws: Any, out: Path) -> dict[str, Any]:
    build, compile_wall, compile_cpu = timed(lambda: _build(ws))
    rows, wall, cpu = timed(lambda: ws.campaigns.write_snapshot(build, out))
    return {"wall": compile_wall + wall, "cpu": compile_cpu + cpu, "result": rows}


def _build(ws: Any) -> Any:
    salt = ws.store.campaign_uid("Bench")
    build = ws.campaigns.build("Bench", today=AS_OF)
    # The store's salt is random; both engines get the bench's fixed salt.
    query = campaign_bench._with_salt(build.query, salt)
    return build.__class__(**{**build.__dict__, "query": query})


LIST_ATTRIBUTES = (  # columns of the campaign's snapshot
    ("email", "email"),
    ("amperity_id", "external_id"),
    ("given_name", "first_name"),
    ("surname", "last_name"),
)


def _list_diff(ws: Any, out: Path) -> dict[str, Any]:
    """The largest group as a Klaviyo list: staged and diffed (timed), the snapshot untimed."""
    build = _build(ws)
    snapshot = out.with_name(out.stem + "-snapshot.parquet")
    ws.campaigns.write_snapshot(build, snapshot)
    item = _list_item(build, snapshot)
    folder = out.with_suffix("")
    shutil.rmtree(folder, ignore_errors=True)
    stage = _stage_in_spark if ws.engine.name == "spark" else _stage_here
    _, stage_wall, stage_cpu = timed(lambda: stage(ws, build, snapshot, item, folder))
    ledger = out.parent / "ledger.parquet"
    if not ledger.exists():  # the first DuckDB round's records, changed: untimed
        _write_ledger(folder / "desired.parquet", ledger)
    counts, diff_wall, diff_cpu = timed(lambda: _diff_side(ws, folder, ledger))
    returned = {
        name: _rows_of(folder / f"{name}.parquet")
        for name in ("adds", "updates", "removes", "skipped")
    }
    return {
        "wall": stage_wall + diff_wall,
        "cpu": stage_cpu + diff_cpu,
        "result": {**counts, "group": item.group},
        "returned": returned,
        "folder": str(folder),
    }


def _list_item(build: Any, snapshot: Path) -> Any:
    """The campaign's largest sending group, as a Klaviyo list's (its claims unchanged)."""
    import dataclasses

    from herald.core.campaigns.model import AttributeMapping
    from herald.destinations.klaviyo_api.factory import KlaviyoApiDestination
    from herald.runs.snapshots import Snapshot

    with Snapshot(snapshot) as snap:
        counts = {(c.sub_audience, c.group): c.recipients for c in snap.counts()}
    sending = [r for r in build.resolved if (r.sub_audience, r.group) in counts]
    largest = max(sending, key=lambda r: counts[(r.sub_audience, r.group)])
    attributes = tuple(AttributeMapping(source, field) for source, field in LIST_ATTRIBUTES)
    return dataclasses.replace(largest, kind=KlaviyoApiDestination.kind, attributes=attributes)


def _stage_here(ws: Any, build: Any, snapshot: Path, item: Any, folder: Path) -> None:
    from herald.destinations.klaviyo_api.sync import prepare_delivery
    from herald.runs.groups import claims_for, prepared_group
    from herald.runs.snapshots import Snapshot

    with (
        Snapshot(snapshot) as snap,
        claims_for(ws, build, snap) as claims,
        prepared_group(ws, snap, item, claims) as prepared,
    ):
        records = prepared.batches(order="key")
        prepare_delivery(records, prepared.fields, prepared.key, prepared.dropped, folder)


def _stage_in_spark(ws: Any, build: Any, snapshot: Path, item: Any, folder: Path) -> None:
    from herald.destinations.klaviyo_api.engine_diff import write_engine_inputs
    from herald.destinations.klaviyo_api.factory import KlaviyoApiDestination
    from herald.runs.spark_lists import SparkLists

    shape = KlaviyoApiDestination.capabilities.engine_rows
    assert shape is not None
    with tempfile.TemporaryDirectory() as scratch:
        key = ws.settings.database.customer_key
        lists = SparkLists(ws.engine, build, snapshot, "bench", key=key, scratch=Path(scratch))
        write_engine_inputs(folder, lists.prepare(item, 1, shape).records)


def _diff_side(ws: Any, folder: Path, ledger: Path) -> dict[str, int]:
    import dataclasses

    from herald.destinations.klaviyo_api.diff import compute_diff
    from herald.destinations.klaviyo_api.engine_diff import compute_engine_diff

    if ws.engine.name == "spark":
        counts = compute_engine_diff(ws.engine, folder, ledger)
    else:
        counts = compute_diff(folder / "desired.parquet", ledger, folder)
    return {**dataclasses.asdict(counts), "unchanged": counts.unchanged}


def _write_ledger(desired: Path, ledger: Path) -> None:
    import duckdb

    source = f"read_parquet('{desired}')"
    bucket = "substr(md5(key), 1, 2)"  # 1/64 of keys each: 00-03, 04-07, 08-0b
    columns = "email, phone_number, external_id"
    sql = f"""
        SELECT key, {columns}, ident,
               CASE WHEN {bucket} BETWEEN '04' AND '07' THEN 'changed' ELSE attr_hash END
                   AS attr_hash,
               NULL::VARCHAR AS profile_id, 'member' AS status
        FROM {source} WHERE {bucket} > '03'
        UNION ALL
        SELECT 'left-' || key, 'left-' || email, NULL, NULL, 'e:left-' || email, attr_hash,
               NULL, 'member'
        FROM {source} WHERE {bucket} BETWEEN '08' AND '0b'
    """
    with duckdb.connect() as con:
        con.execute(f"COPY ({sql}) TO '{ledger}' (FORMAT parquet)")


def _rows_of(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows) if path.exists() else 0


def snapshot_differences(a: Path, b: Path) -> dict[str, Any]:
    """Rows in one snapshot and not in the other, both ways (as multisets: the same as
    comparing the rows sorted by key), and whether the columns and their types agree (Spark
    marks some columns not null and adds its metadata: neither changes a value)."""
    import duckdb
    import pyarrow.parquet as pq

    columns = [[(f.name, str(f.type)) for f in pq.read_schema(path)] for path in (a, b)]
    if columns[0] != columns[1]:
        return {"differences": -1, "columns": columns}
    one, two = (f"SELECT * FROM read_parquet('{path}')" for path in (a, b))
    sql = f"SELECT count(*) FROM (({one} EXCEPT ALL {two}) UNION ALL ({two} EXCEPT ALL {one}))"
    with duckdb.connect() as con:
        return {"differences": int(con.execute(sql).fetchall()[0][0])}


def child(args: argparse.Namespace) -> dict[str, Any]:
    if args.side == "compare":
        return snapshot_differences(args.db, args.out)
    if args.side == "export":
        return export_lake(args.db, args.lake)
    workload, engine = args.side.split(":")
    db, lake = args.db.resolve(), args.lake.resolve()
    return run_side(workload, engine, db, lake, args.out, args.spark_memory)


# --- the orchestration: interleaved rounds, identity checks ----------------------------------


def run_child(*arguments: str) -> dict[str, Any]:
    return _report.run_child(__file__, *arguments)


def prepare(db: Path) -> tuple[Path, float | None]:
    """The lake folder of ``db``, exported now (in a child process) if it is not there yet;
    the seconds the export took, or None when it was there."""
    lake = lake_folder(db)
    if lake.exists():
        return lake, None
    print(f"exporting {db.name} to Parquet in {lake} …", flush=True)
    done = run_child("--side", "export", "--db", str(db), "--lake", str(lake))
    print(f"  done in {done['seconds']:.0f} s", flush=True)
    return lake, float(done["seconds"])


def one_round(
    workload: str, db: Path, lake: Path, folder: Path, memory: str | None
) -> dict[str, dict[str, Any]]:
    """DuckDB then Spark, once; raises SystemExit if their answers differ."""
    found = {}
    for engine in ENGINES:
        out = folder / f"{workload}-{engine}.parquet"
        side = ["--side", f"{workload}:{engine}", "--db", str(db), "--lake", str(lake)]
        limit = ["--spark-memory", memory] if memory else []
        found[engine] = run_child(*side, "--out", str(out), *limit)
    duck, spark = found["duckdb"]["result"], found["spark"]["result"]
    if workload == "insights" and duck != spark:
        raise SystemExit(f"insights differ: DuckDB {duck}, Spark {spark}")
    if workload == "campaign":
        a, b = (str(folder / f"campaign-{engine}.parquet") for engine in ENGINES)
        compared = run_child("--side", "compare", "--db", a, "--out", b)
        if compared["differences"] or duck != spark:
            raise SystemExit(f"the campaign snapshots differ: {compared}, rows {duck} and {spark}")
    if workload == "diff":
        if duck != spark:
            raise SystemExit(f"the list diffs' counts differ: DuckDB {duck}, Spark {spark}")
        for name in ("adds", "updates", "removes"):
            a, b = (f"{found[engine]['folder']}/{name}.parquet" for engine in ENGINES)
            compared = run_child("--side", "compare", "--db", a, "--out", b)
            if compared["differences"]:
                raise SystemExit(f"the list diffs' {name} differ: {compared}")
    return found


def measure(
    db: Path, lake: Path, rounds: int, memory: str | None
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every workload, ``rounds`` interleaved rounds of DuckDB and Spark."""
    found: dict[str, dict[str, list[dict[str, Any]]]] = {
        workload: {engine: [] for engine in ENGINES} for workload in WORKLOADS
    }
    with tempfile.TemporaryDirectory(prefix="herald-bench-") as tmp:
        for number in range(1, rounds + 1):
            for workload in WORKLOADS:
                done = one_round(workload, db, lake, Path(tmp), memory)
                for engine in ENGINES:
                    found[workload][engine].append(done[engine])
                duck, spark = done["duckdb"], done["spark"]
                print(
                    f"  round {number} {workload}: DuckDB {duck['wall']:.2f} s query "
                    f"({duck['command_wall']:.2f} s command), Spark {spark['wall']:.2f} s "
                    f"query ({spark['command_wall']:.2f} s command), identical",
                    flush=True,
                )
    return found


# --- the report --------------------------------------------------------------------------------


def command_summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """:func:`_report.summary` of the whole commands, with the peak RSS of the process tree."""
    return summary(
        [
            {"wall": r["command_wall"], "cpu": r["command_cpu"], "peak_rss_mb": _tree_mb(r)}
            for r in runs
        ]
    )


def query_summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    return summary([{**r, "peak_rss_mb": _tree_mb(r)} for r in runs])


def _tree_mb(run: dict[str, Any]) -> float:
    return float(sum(run["peak_rss"].values()))


def _median(runs: list[dict[str, Any]], key: str) -> float:
    import statistics

    return float(statistics.median(r[key] for r in runs))


TABLE_HEAD = """\
| customers | workload | engine | measured | wall min | wall median | CPU min | CPU median \
| peak RSS |
|---:|---|---|---|---:|---:|---:|---:|---:|"""


def _rows(customers: int, found: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    lines = []
    for workload in WORKLOADS:
        for engine, label in (("duckdb", "DuckDB"), ("spark", f"Spark {MASTER}")):
            runs = found[workload][engine]
            for what, s in (("query", query_summary(runs)), ("command", command_summary(runs))):
                lines.append(
                    f"| {customers:,} | {workload} | {label} | {what} | {s['wall_min']:.2f} s "
                    f"| {s['wall_median']:.2f} s | {s['cpu_min']:.2f} s "
                    f"| {s['cpu_median']:.2f} s | {s['peak_rss_mb']:,.0f} MB |"
                )
    return lines


def _ratios(customers: int, found: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    lines = []
    for workload in WORKLOADS:
        duck, spark = found[workload]["duckdb"], found[workload]["spark"]
        q = [query_summary(runs) for runs in (duck, spark)]
        c = [command_summary(runs) for runs in (duck, spark)]
        lines.append(
            f"| {customers:,} | {workload} "
            f"| {q[1]['wall_median'] / q[0]['wall_median']:.1f} "
            f"| {q[1]['cpu_median'] / q[0]['cpu_median']:.1f} "
            f"| {c[1]['wall_median'] / c[0]['wall_median']:.1f} "
            f"| {c[1]['cpu_median'] / c[0]['cpu_median']:.1f} "
            f"| {c[1]['peak_rss_mb'] / c[0]['peak_rss_mb']:.1f} |"
        )
    return lines


def _memory_line(customers: int, found: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    parts = []
    for workload in WORKLOADS:
        peaks = found[workload]["spark"][0]["peak_rss"]
        split = ", ".join(f"{name} {mb:,.0f} MB" for name, mb in sorted(peaks.items()))
        parts.append(f"{workload}: {split}")
    return f"- {customers:,}: " + "; ".join(parts) + "."


def _result_line(customers: int, found: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    metrics = found["insights"]["duckdb"][0]["result"]
    recipients = found["campaign"]["duckdb"][0]["result"]
    diff = found["diff"]["duckdb"][0]["result"]
    returned = found["diff"]["spark"][0]["returned"]
    back = ", ".join(f"{rows:,} {name}" for name, rows in returned.items())
    return (
        f"- {customers:,} customers: insights {metrics['unique_customers']:,} customers, "
        f"revenue 1y ${metrics['revenue_1y']:,.2f}; campaign {recipients:,} recipients; "
        f"list diff of group '{diff['group']}': {diff['desired']:,} desired records, "
        f"{diff['adds']:,} adds, {diff['updates']:,} updates, {diff['removes']:,} removes, "
        f"{diff['unchanged']:,} unchanged; the same on both engines in every round. On Spark only "
        f"these rows came back to Herald ({back}); DuckDB's side writes all "
        f"{diff['desired']:,} desired records on this machine first."
    )


def report(args: argparse.Namespace, results: dict[int, dict[str, Any]]) -> str:
    sizes = sorted(results)
    tables = "\n".join(
        [TABLE_HEAD, *(line for n in sizes for line in _rows(n, results[n]["found"]))]
    )
    ratios = "\n".join(line for n in sizes for line in _ratios(n, results[n]["found"]))
    command = "python bench/engines.py" + (
        "" if tuple(sizes) == SIZES else " --customers " + " ".join(str(n) for n in sizes)
    )
    command += f" --spark-memory {args.spark_memory}" if args.spark_memory else ""
    starts = ", ".join(
        f"{_median(results[n]['found'][w]['spark'], 'engine_start'):.1f} s ({w} at {n:,})"
        for n in sizes
        for w in WORKLOADS
    )
    lakes = ", ".join(f"{results[n]['lake_mb']:,.0f} MB at {n:,}" for n in sizes)
    loads = ", ".join(
        f"{results[n]['load'][0]:.1f} before and {results[n]['load'][1]:.1f} after {n:,}"
        for n in sizes
    )
    memory = (
        f"driver memory {args.spark_memory} (`[engine] memory_limit`)"
        if args.spark_memory
        else f"Herald's default driver memory for a local master ({local_driver_memory()}, a "
        "quarter of the machine's)"
    )
    rounds = f"{args.rounds} round" + ("s" if args.rounds != 1 else "")
    missing = "" if set(SIZES) <= set(results) else "\n5M customers not run this time.\n"
    return f"""## DuckDB and Spark, the same work (`bench/engines.py`)

Command: `{command} --rounds {args.rounds}` · revision {git_revision()} · {dt.date.today()}
Machine: {machine()}.
Shared with other work: load average (1 min) {loads}.
Data: the demo generator (seed 7, as of {AS_OF}), cached in bench/.data/: DuckDB reads the
database file; Spark reads the same tables exported once to Parquet ({lakes}).
Engines: each from a workspace of its own (`herald.toml` [engine]): DuckDB with its defaults
(all cores, {os.cpu_count()}); Spark in local mode, `master = "{MASTER}"`, Herald's session
defaults (8 shuffle partitions), {memory}.
Workloads: the insights of `bench/segments.py`'s segment (`herald segment insights`), the
audience build of `bench/campaigns.py`'s campaign (compile + `write_snapshot` to Parquet), as
in `bench/sql_plans.py`, and its largest group as a Klaviyo list ("diff": staging and diff
against a ledger that differs by 1/64 adds, updates and removes each; on Spark both run in
Spark). Engines interleaved, {rounds}, each side in its own process.
"query" is the work once the engine is up; "command" is the whole process from its
start (Python, imports, engine start, workspace, the work). CPU and peak RSS are the process
tree's: the Python process, its reaped children and its live children (Spark's JVM), CPU from
psutil and peak RSS as the sum of each process's `VmHWM` (/proc), read before it exits.
Every round the answers are identical: the same insights numbers, the same snapshot rows
(the same recipients in the same sub-audience and group with the same attributes), and the
same diff files (adds, updates, removes, row for row) and counts.
{missing}
{tables}

Spark ÷ DuckDB, medians (peak RSS: highest of the rounds):

| customers | workload | query wall | query CPU | command wall | command CPU | peak RSS |
|---:|---|---:|---:|---:|---:|---:|
{ratios}

Spark's engine start (the session, the lake tables' views), median:
{starts}; in the command, not in the query. A long-lived process (the web app, the
scheduler) pays it once.

Spark's peak RSS by process (first round):
{chr(10).join(_memory_line(n, results[n]["found"]) for n in sizes)}

Results:
{chr(10).join(_result_line(n, results[n]["found"]) for n in sizes)}
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", type=Path, help="Use this database (one size) instead.")
    parser.add_argument(
        "--spark-memory", help="Spark's driver memory ([engine] memory_limit), e.g. 4g."
    )
    parser.add_argument("--no-report", action="store_true", help="Do not write docs/benchmarks.md.")
    parser.add_argument("--json", type=Path, help="Also write every measure to this file.")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.side:
        print(json.dumps(child(args)))
        return
    if args.database and len(args.customers) != 1:
        raise SystemExit("--database needs exactly one --customers (its size)")
    results: dict[int, dict[str, Any]] = {}
    for customers in args.customers:
        db = args.database or demo_database(customers, AS_OF)
        lake, export_s = prepare(db)
        print(f"{customers:,} customers ({db.name}):", flush=True)
        load_before = os.getloadavg()[0]
        found = measure(db, lake, args.rounds, args.spark_memory)
        results[customers] = {
            "found": found,
            "lake_mb": lake_mb(lake),
            "export_seconds": export_s,
            "load": [load_before, os.getloadavg()[0]],
        }
    body = report(args, results)
    if not args.no_report:
        write_section("engines", body)
    if args.json:
        args.json.write_text(json.dumps({str(n): r for n, r in results.items()}, indent=1))
    print(body)


if __name__ == "__main__":
    main()
