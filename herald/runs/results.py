"""Campaign results: each group against its sub-audience's control group, from the launch date.

The sums come from one engine query over the runs' recipients logs and the transactions
(:func:`herald.core.results.query.results_query`); the statistics from
:func:`herald.core.results.stats.compare`. Every recipient assigned to a group counts, whether
or not a destination accepted them (intent to treat), so that treatment and control compare.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from herald.atomic import atomic_path
from herald.core.results import Lift
from herald.core.results.model import GroupSums
from herald.core.results.query import (
    DEFAULT_WINDOW_DAYS,
    LOG_TABLE,
    daily_query,
    results_query,
)
from herald.core.results.stats import compare
from herald.engines.duckdb import sql_identifier, sql_string
from herald.engines.localdb import local_duckdb
from herald.exceptions import NotFoundError

if TYPE_CHECKING:
    from sqlglot import exp

    from herald.state import Run
    from herald.workspace import Workspace

LOG_FILE = "recipients_log.parquet"
MEASURED = ("delivered", "error")
"""Statuses of runs whose recipients are measured: a run that ended in error after its log
was written delivered some groups (intent to treat counts the others too)."""


@dataclass(frozen=True)
class GroupResult:
    """One group of one sub-audience over the window, and its lift against the control.

    ``lift`` is None for a control group and for a group with no control to compare with,
    which ``note`` then says.
    """

    sub_audience: str
    group: str
    is_control: bool
    sums: GroupSums
    revenue_total: Decimal
    """Revenue in the window, exact (the engine's DECIMAL sum)."""
    conversion: float | None
    orders_per_recipient: float | None
    revenue_per_recipient: float | None
    revenue_per_purchaser: float | None
    control: str | None = None
    lift: Lift | None = None
    note: str | None = None


@dataclass(frozen=True)
class ResultsSection:
    """The results of one run (``run_id``), or pooled over ``runs`` (``run_id`` None)."""

    run_id: str | None
    runs: tuple[str, ...]
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    window_over: bool
    """False while some recipient's window has not ended at ``as_of``."""
    groups: tuple[GroupResult, ...]


@dataclass(frozen=True)
class CampaignResults:
    campaign: str
    window_days: int
    as_of: dt.datetime
    cuped: bool
    confidence: float
    sections: tuple[ResultsSection, ...]
    """Pooled first when there are several runs, then one per run, oldest first."""


def measured_runs(ws: Workspace, campaign: str | None = None) -> list[Run]:
    """Runs (not test runs) with a recipients log, oldest first: of one campaign, or all."""
    runs = ws.store.list_runs(campaign)
    return [
        r
        for r in reversed(runs)
        if r.kind == "run" and r.status in MEASURED and log_path(ws, r.id).exists()
    ]


def log_path(ws: Workspace, run_id: str) -> Path:
    return ws.runs_dir / run_id / LOG_FILE


def campaign_results(
    ws: Workspace,
    name: str,
    *,
    run_id: str | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    as_of: dt.datetime | None = None,
    cuped: bool = True,
    confidence: float = 0.95,
) -> CampaignResults:
    """Each group of a campaign against its sub-audience's control group.

    Args:
        ws: the workspace.
        name: the campaign.
        run_id: one run only; default every measured run, pooled (a customer counted once,
            in their first run's group) and one by one.
        window_days: days from the launch date (or the delivery date) that count.
        as_of: no order from this moment on counts (default now).
        cuped: reduce the revenue variance with the pre-period's revenue (CUPED).
        confidence: of the intervals.

    Raises:
        NotFoundError: an unknown campaign or run, or no measured run yet.
        ConfigError: the transactions table or one of its columns is missing.
        EngineError: the query failed.
    """
    moment = _utc(as_of or dt.datetime.now(dt.UTC))
    runs = _chosen_runs(ws, name, run_id)
    order = _campaign_order(ws, name)
    sections = [
        _section(run, ids, sorted(rows, key=order), moment, cuped=cuped, confidence=confidence)
        for run, ids, rows in _every_section(ws, runs, window_days, moment, results_query)
    ]
    return CampaignResults(name, window_days, moment, cuped, confidence, tuple(sections))


def _chosen_runs(ws: Workspace, name: str, run_id: str | None) -> list[Run]:
    if run_id is not None:
        run = ws.store.get_run(run_id)
        if run.campaign != name:
            msg = f"run {run.id} belongs to campaign '{run.campaign}', not '{name}'"
            raise NotFoundError(msg)
        if not log_path(ws, run.id).exists():
            msg = f"run {run.id} has no recipients log (it ended {run.status} before logging)"
            raise NotFoundError(msg)
        return [run]
    runs = measured_runs(ws, name)
    if not runs:
        ws.store.get("campaign", name, "latest")  # an unknown name: "not found", with a hint
        msg = (
            f"campaign '{name}' has no delivered run yet; "
            f"run it with `herald campaign run '{name}'`"
        )
        raise NotFoundError(msg)
    return runs


Rows = list[dict[str, Any]]


def _campaign_order(ws: Workspace, name: str) -> Callable[[dict[str, Any]], tuple[int, str, str]]:
    """A sort key putting groups in the campaign's order (sub-audiences, then groups), as its
    latest version has them; groups it no longer has come last, by name."""
    try:
        campaign, _ = ws.campaigns.load(name, "latest")
    except NotFoundError:  # deleted since its runs
        places: dict[tuple[str, str], int] = {}
    else:
        pairs = [(s.name, g.name) for s in campaign.all_sub_audiences() for g in s.groups]
        places = {pair: i for i, pair in enumerate(pairs)}

    def key(row: dict[str, Any]) -> tuple[int, str, str]:
        where = places.get((row["sub_audience"], row["group"]), len(places))
        return where, row["sub_audience"], row["group"]

    return key


def _every_section(
    ws: Workspace,
    runs: Sequence[Run],
    window_days: int,
    as_of: dt.datetime,
    build: Callable[..., exp.Select],
) -> list[tuple[str | None, tuple[str, ...], Rows]]:
    """The pooled section first when there are several runs, then one per run."""
    per_run = _sections(ws, runs, window_days, as_of, per_run=True, build=build)
    if len(runs) < 2:
        return per_run
    return [*_sections(ws, runs, window_days, as_of, per_run=False, build=build), *per_run]


def _sections(
    ws: Workspace,
    runs: Sequence[Run],
    window_days: int,
    as_of: dt.datetime,
    *,
    per_run: bool,
    build: Callable[..., exp.Select] = results_query,
) -> list[tuple[str | None, tuple[str, ...], Rows]]:
    """``(run id or None when pooled, the runs, the query's rows)``, in the runs' order;
    ``build`` makes the query (:func:`results_query` or :func:`daily_query`)."""
    query = build(ws.catalog, window_days=window_days, as_of=as_of, per_run=per_run)
    table = ws.engine.query_files(query, {LOG_TABLE: [log_path(ws, r.id) for r in runs]})
    rows = table.to_pylist()
    if not per_run:
        return [(None, tuple(r.id for r in runs), rows)]
    return [(r.id, (r.id,), [row for row in rows if row["run_id"] == r.id]) for r in runs]


def _section(
    run_id: str | None,
    runs: tuple[str, ...],
    rows: Rows,
    as_of: dt.datetime,
    *,
    cuped: bool,
    confidence: float,
) -> ResultsSection:
    starts = [_utc(row["window_start"]) for row in rows]
    ends = [_utc(row["window_end"]) for row in rows]
    return ResultsSection(
        run_id=run_id,
        runs=runs,
        window_start=min(starts, default=None),
        window_end=max(ends, default=None),
        window_over=all(end <= as_of for end in ends),
        groups=tuple(
            _against_controls([_group(row) for row in rows], cuped=cuped, confidence=confidence)
        ),
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _group(row: dict[str, Any]) -> GroupResult:
    sums = GroupSums(
        recipients=int(row["recipients"]),
        purchasers=int(row["purchasers"] or 0),
        orders=int(row["orders"] or 0),
        revenue=_float(row["revenue"]),
        revenue_sq=_float(row["revenue_sq"]),
        pre_revenue=_float(row["pre_revenue"]),
        pre_revenue_sq=_float(row["pre_revenue_sq"]),
        revenue_cross=_float(row["revenue_cross"]),
    )
    n, buyers = sums.recipients, sums.purchasers
    return GroupResult(
        sub_audience=row["sub_audience"],
        group=row["group"],
        is_control=bool(row["is_control"]),
        sums=sums,
        revenue_total=row["revenue_total"] or Decimal(0),
        conversion=buyers / n if n else None,
        orders_per_recipient=sums.orders / n if n else None,
        revenue_per_recipient=sums.revenue / n if n else None,
        revenue_per_purchaser=sums.revenue / buyers if buyers else None,
    )


def _float(value: Any) -> float:
    return float(value or 0.0)


def _against_controls(
    groups: list[GroupResult], *, cuped: bool, confidence: float
) -> list[GroupResult]:
    """Each non-control group with its lift against its sub-audience's control group."""
    controls: dict[str, list[GroupResult]] = {}
    for g in groups:
        if g.is_control:
            controls.setdefault(g.sub_audience, []).append(g)
    out = []
    for g in groups:
        found = controls.get(g.sub_audience, [])
        if g.is_control:
            out.append(g)
        elif len(found) != 1:
            note = (
                "no control group in this sub-audience"
                if not found
                else "several control groups (the runs' campaign versions differ): see each run"
            )
            out.append(_with(g, note=note))
        else:
            lift = compare(g.sums, found[0].sums, cuped=cuped, confidence=confidence)
            out.append(_with(g, control=found[0].group, lift=lift))
    return out


def _with(group: GroupResult, **changes: Any) -> GroupResult:
    return replace(group, **changes)


# --- cumulative conversion by day ----------------------------------------------------------


@dataclass(frozen=True)
class DailyGroup:
    """One group's purchasers so far, by day since the start of its recipients' window."""

    sub_audience: str
    group: str
    is_control: bool
    recipients: int
    purchasers: tuple[int, ...]
    """Recipients who bought by the end of day d (d = 0 on the start's date), per day shown."""

    @property
    def conversion(self) -> tuple[float, ...]:
        """Cumulative conversion, purchasers so far ÷ recipients, per day shown."""
        return tuple(p / self.recipients for p in self.purchasers) if self.recipients else ()


@dataclass(frozen=True)
class DailySection:
    """The daily curves of one run (``run_id``), or pooled over ``runs`` (``run_id`` None)."""

    run_id: str | None
    runs: tuple[str, ...]
    days: int
    """Days shown: the window's, or fewer when ``as_of`` comes first (pooled: counted from the
    earliest run's start, so a later run's curve has days not yet lived, flat at its end)."""
    groups: tuple[DailyGroup, ...]


def daily_conversion(
    ws: Workspace,
    name: str,
    *,
    run_id: str | None = None,
    window_days: int = DEFAULT_WINDOW_DAYS,
    as_of: dt.datetime | None = None,
) -> tuple[DailySection, ...]:
    """Each group's cumulative conversion by day since the launch date, for a chart of
    treatment against control; the sections are :func:`campaign_results`' (pooled first when
    there are several runs, then one per run), each group on its first order in the window.

    Args:
        ws: the workspace.
        name: the campaign.
        run_id: one run only; default every measured run, pooled and one by one.
        window_days: days from the launch date (or the delivery date) that count.
        as_of: no order from this moment on counts (default now).

    Raises:
        NotFoundError: an unknown campaign or run, or no measured run yet.
        ConfigError: the transactions table or one of its columns is missing.
        EngineError: the query failed.
    """
    moment = _utc(as_of or dt.datetime.now(dt.UTC))
    runs = _chosen_runs(ws, name, run_id)
    order = _campaign_order(ws, name)

    return tuple(
        _daily_section(run, ids, sorted(rows, key=order), window_days, moment)
        for run, ids, rows in _every_section(ws, runs, window_days, moment, daily_query)
    )


def _daily_section(
    run_id: str | None, runs: tuple[str, ...], rows: Rows, window_days: int, as_of: dt.datetime
) -> DailySection:
    starts = [_utc(row["window_start"]) for row in rows]
    lived = (as_of - min(starts, default=as_of)) / dt.timedelta(days=1)
    days = max(0, min(window_days, math.ceil(lived)))
    curves: dict[tuple[str, str, bool], tuple[int, dict[int, int]]] = {}
    for row in rows:
        key = (row["sub_audience"], row["group"], bool(row["is_control"]))
        _, points = curves.setdefault(key, (int(row["recipients"]), {}))
        if row["day"] is not None:
            points[int(row["day"])] = int(row["cumulative"])
    groups = [
        DailyGroup(sub, group, control, recipients, _running(points, days))
        for (sub, group, control), (recipients, points) in curves.items()
    ]
    return DailySection(run_id, runs, days, tuple(groups))


def _running(points: dict[int, int], days: int) -> tuple[int, ...]:
    """The running total on every day from 0 to ``days`` - 1, from the days it changed on."""
    out, total = [], 0
    for day in range(days):
        total = points.get(day, total)
        out.append(total)
    return tuple(out)


# --- Campaign_Recipients --------------------------------------------------------------------

EXPORT_COLUMNS = (
    ("campaign", "campaign_name"),
    ("run_id", "run_id"),
    ("sub_audience", "sub_audience_name"),
    ("group", "treatment_name"),
    ("is_control", "is_control"),
    ("destination", "destination_name"),
    ("delivered_at", "delivery_datetime"),
    ("launch_date", "launch_date"),
)
"""Recipients-log column → Campaign_Recipients column (Amperity's snake_case names)."""
EXPORT_TABLE = "Campaign_Recipients"


def export_recipients(
    ws: Workspace,
    target: Path,
    *,
    campaign: str | None = None,
    format: Literal["parquet", "duckdb"] = "parquet",
) -> int:
    """Write ``Campaign_Recipients``: a row per recipient and destination of every measured run
    (of one campaign, or all), to a Parquet file or into a DuckDB file of its own (replaced).

    Returns:
        The number of rows.

    Raises:
        NotFoundError: an unknown campaign, or no run with a recipients log.
    """
    runs = measured_runs(ws, campaign)
    if not runs and campaign is not None:
        ws.store.get("campaign", campaign, "latest")  # an unknown name: "not found", with a hint
        msg = (
            f"campaign '{campaign}' has no delivered run to export yet; "
            f"run it with `herald campaign run '{campaign}'`"
        )
        raise NotFoundError(msg)
    if not runs:
        msg = "no campaign has a delivered run to export yet; run one with `herald campaign run`"
        raise NotFoundError(msg)
    select = _export_select(ws, runs)
    target.parent.mkdir(parents=True, exist_ok=True)
    with local_duckdb(target.parent) as con, atomic_path(target) as partial:
        if format == "parquet":
            sql = f"COPY ({select}) TO {sql_string(partial)} (FORMAT parquet, COMPRESSION zstd)"
            return int(con.execute(sql).fetchall()[0][0])
        con.execute(f"ATTACH {sql_string(partial)} AS export")
        con.execute(f"CREATE TABLE export.{EXPORT_TABLE} AS {select}")
        [(rows,)] = con.execute(f"SELECT count(*) FROM export.{EXPORT_TABLE}").fetchall()
        con.execute("DETACH export")
        return int(rows)


def _export_select(ws: Workspace, runs: Sequence[Run]) -> str:
    key = sql_identifier(ws.settings.database.customer_key)
    files = ", ".join(sql_string(log_path(ws, r.id)) for r in runs)
    columns = ", ".join(f"{sql_identifier(a)} AS {b}" for a, b in EXPORT_COLUMNS)
    return (
        f"SELECT {key}, {columns} FROM read_parquet([{files}], union_by_name = true) "
        f"ORDER BY delivery_datetime, run_id, sub_audience_name, treatment_name, {key}"
    )
