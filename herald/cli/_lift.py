"""How campaign results are shown: the groups' figures, their lift against the control group
with intervals and p-values, and the same as CSV rows."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from herald.atomic import atomic_path
from herald.cli._common import console, percent, print_table
from herald.core.results.stats import Estimate
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
LIFT_COLUMNS = [
    "sub-audience",
    "group",
    "vs",
    "conversion lift",
    "relative",
    "revenue/recipient lift",
    "relative",
    "incremental revenue",
    "CUPED",
]


def print_results(results: CampaignResults) -> None:
    """A heading, then per section (pooled, each run) its window and two tables."""
    console.print(
        f"[bold]{results.campaign}[/]: {results.window_days} days from each run's launch date, "
        f"as of {_moment(results.as_of)}; {results.confidence:.0%} intervals",
        markup=True,
    )
    for section in results.sections:
        console.print(f"\n{_section_title(section)}", markup=False)
        print_table(None, GROUP_COLUMNS, [_group_row(g) for g in section.groups])
        compared = [g for g in section.groups if not g.is_control]
        if compared:
            print_table(
                "Lift against the control group",
                LIFT_COLUMNS,
                [_lift_row(g, results.cuped) for g in compared],
            )


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


def _lift_row(g: GroupResult, cuped: bool) -> tuple[Any, ...]:
    lift = g.lift
    if lift is None:
        return (g.sub_audience, g.group, g.note, *(None,) * (len(LIFT_COLUMNS) - 3))
    return (
        g.sub_audience,
        g.group,
        g.control,
        _estimate(lift.conversion, points=True),
        _relative(lift.conversion_relative),
        _estimate(lift.revenue_per_recipient),
        _relative(lift.revenue_relative),
        _estimate(lift.incremental_revenue),
        _cuped(g, cuped),
    )


def _estimate(e: Estimate, *, points: bool = False) -> str:
    """``+1.20 pp [-0.30, +2.70] p 0.140`` (percentage points), or ``+3.41 [-1.20, +8.02]``."""
    if e.value is None:
        return "—"
    scale, unit = (100.0, " pp") if points else (1.0, "")
    text = f"{e.value * scale:+,.2f}{unit}"
    if e.low is not None and e.high is not None:
        text += f" [{e.low * scale:+,.2f}, {e.high * scale:+,.2f}]"
    if e.p_value is not None:
        text += f" p {_p(e.p_value)}"
    return text


def _relative(e: Estimate) -> str:
    if e.value is None:
        return "—"
    text = f"{e.value:+.1%}"
    if e.low is not None and e.high is not None:
        text += f" [{e.low:+.1%}, {e.high:+.1%}]"
    return text


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _cuped(g: GroupResult, cuped: bool) -> str:
    """The revenue interval's width with CUPED, and without it."""
    lift = g.lift
    if lift is None or not cuped:
        return "off"
    if not lift.cuped or lift.width_cuped is None or lift.width_plain is None:
        return "not used" + (f" ({lift.reason})" if lift.reason else "")
    return f"±{lift.width_cuped / 2:,.2f} (±{lift.width_plain / 2:,.2f} without)"


# --- CSV ------------------------------------------------------------------------------------

ESTIMATES = (
    "conversion",
    "conversion_relative",
    "revenue_per_recipient",
    "revenue_relative",
    "incremental_revenue",
)


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
                e = getattr(g.lift, name) if g.lift is not None else Estimate(None)
                row |= {
                    f"lift_{name}": e.value,
                    f"lift_{name}_low": e.low,
                    f"lift_{name}_high": e.high,
                    f"lift_{name}_p": e.p_value,
                }
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
