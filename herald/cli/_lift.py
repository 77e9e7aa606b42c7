"""How campaign results are shown: the groups' figures, their lift against the control group
with intervals and p-values, and the same as CSV rows."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.markup import escape

from herald.atomic import atomic_path
from herald.cli._common import console, percent, print_table
from herald.core.results import Estimate
from herald.runs.results import CampaignResults, GroupResult, ResultsSection

GROUP_COLUMNS = [
    "sub-audience",
    "group",
    "control",
    "recipients",
    "purchasers",
    "conversion",
    "orders/recipient",
    "revenue/recipient",
    "revenue/purchaser",
    "revenue",
]
LIFT_COLUMNS = ["", "lift", "interval", "p", "relative lift", "relative interval"]


def print_results(results: CampaignResults) -> None:
    """A heading, then per section (pooled, each run) its window, the groups' figures and,
    for each group with a control, a table of its lift."""
    console.print(
        f"[bold]{escape(results.campaign)}[/]: {results.window_days} days from each run's "
        f"launch date, as of {_moment(results.as_of)}; {results.confidence:.0%} intervals",
        markup=True,
    )
    for section in results.sections:
        console.print(f"\n{_section_title(section)}", markup=False)
        print_table(None, GROUP_COLUMNS, [_group_row(g) for g in section.groups])
        for g in section.groups:
            if not g.is_control:
                _print_lift(g, results.cuped)


def _print_lift(g: GroupResult, cuped: bool) -> None:
    if g.lift is None:
        console.print(f"{g.sub_audience} / {g.group}: {g.note}", markup=False)
        return
    lift = g.lift
    rows = [
        ("conversion", *_cells(lift.conversion, points=True), *_relative(lift.conversion_relative)),
        ("revenue/recipient", *_cells(lift.revenue), *_relative(lift.revenue_relative)),
        ("incremental revenue", *_cells(lift.incremental_revenue), None, None),
    ]
    print_table(f"{g.sub_audience} / {g.group} against {g.control}", LIFT_COLUMNS, rows)
    console.print(_cuped(g, cuped), markup=False)


def _section_title(section: ResultsSection) -> str:
    who = (
        f"Run {section.run_id}"
        if section.run_id
        else f"Pooled over {len(section.runs)} runs (each customer once, in their first run)"
    )
    if section.window_start is None or section.window_end is None:
        return f"{who}: no recipients"
    window = f"window {_moment(section.window_start)} → {_moment(section.window_end)}"
    return f"{who}: {window}" + ("" if section.window_over else " (not over yet)")


def _moment(value: dt.datetime) -> str:
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    return f"{text.removesuffix(' 00:00')} UTC"


def _group_row(g: GroupResult) -> tuple[Any, ...]:
    return (
        g.sub_audience,
        g.group,
        g.is_control,
        g.sums.recipients,
        g.sums.purchasers,
        percent(g.conversion),
        None if g.orders_per_recipient is None else f"{g.orders_per_recipient:.3f}",
        g.revenue_per_recipient,
        g.revenue_per_purchaser,
        f"{g.revenue_total:,.2f}",
    )


def _cells(e: Estimate, *, points: bool = False) -> tuple[str | None, str | None, str | None]:
    """Value, interval and p-value: ``+1.20 pp``, ``[-0.30, +2.70]``, ``0.140``."""
    if e.value is None:
        return e.reason or "—", None, None
    scale, unit = (100.0, " pp") if points else (1.0, "")
    interval = None
    if e.low is not None and e.high is not None:
        interval = f"[{e.low * scale:+,.2f}, {e.high * scale:+,.2f}]{unit}"
    p = None if e.p_value is None else _p(e.p_value)
    return f"{e.value * scale:+,.2f}{unit}", interval, p


def _relative(e: Estimate) -> tuple[str | None, str | None]:
    if e.value is None:
        return None, None
    interval = None
    if e.low is not None and e.high is not None:
        interval = f"[{e.low:+.1%}, {e.high:+.1%}]"
    return f"{e.value:+.1%}", interval


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _cuped(g: GroupResult, cuped: bool) -> str:
    """What CUPED did to the revenue interval: its half-width with CUPED and without."""
    lift = g.lift
    if lift is None or not cuped:
        return "CUPED off."
    with_, without = lift.revenue_width, lift.revenue_width_unadjusted
    if not lift.cuped or with_ is None or without is None:
        return "CUPED not used" + (f": {lift.cuped_reason}." if lift.cuped_reason else ".")
    return (
        f"CUPED (pre-period revenue): revenue/recipient interval ±{with_ / 2:,.2f}, "
        f"±{without / 2:,.2f} without."
    )


# --- CSV ------------------------------------------------------------------------------------

ESTIMATES = (
    "conversion",
    "conversion_relative",
    "revenue",
    "revenue_relative",
    "incremental_revenue",
    "revenue_unadjusted",
)


NO_ESTIMATE = Estimate(None, None, None, None)


def csv_rows(results: CampaignResults) -> Iterator[dict[str, Any]]:
    """One row per section and group, every figure in its own column."""
    for section in results.sections:
        for g in section.groups:
            row: dict[str, Any] = {
                "section": section.run_id or "pooled",
                "window_start": section.window_start,
                "window_end": section.window_end,
                "window_over": section.window_over,
                "sub_audience": g.sub_audience,
                "group": g.group,
                "is_control": g.is_control,
                "recipients": g.sums.recipients,
                "purchasers": g.sums.purchasers,
                "orders": g.sums.orders,
                "revenue": g.revenue_total,
                "conversion": g.conversion,
                "orders_per_recipient": g.orders_per_recipient,
                "revenue_per_recipient": g.revenue_per_recipient,
                "revenue_per_purchaser": g.revenue_per_purchaser,
                "control": g.control,
            }
            for name in ESTIMATES:
                e = getattr(g.lift, name) if g.lift is not None else NO_ESTIMATE
                row |= {
                    f"lift_{name}": e.value,
                    f"lift_{name}_low": e.low,
                    f"lift_{name}_high": e.high,
                    f"lift_{name}_p": e.p_value,
                }
            row["cuped"] = g.lift.cuped if g.lift is not None else None
            row["note"] = g.note
            yield row


def write_results_csv(results: CampaignResults, path: Path) -> int:
    """Write :func:`csv_rows` to ``path`` (whole or not at all); return the row count."""
    rows = list(csv_rows(results))
    with atomic_path(path) as partial, partial.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(rows[0].keys() if rows else ["section"])
        writer.writerows([_csv_cell(v) for v in row.values()] for row in rows)
    return len(rows)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value
