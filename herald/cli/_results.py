"""How a run's result is shown: recipients, deliveries, warnings, and the exit status."""

from __future__ import annotations

import sys
from typing import Any

from rich.markup import escape

from herald.cli._common import console, err_console, print_table
from herald.core.campaigns.validate import Warning_
from herald.core.results.preflight import GroupPower
from herald.runs.groups import Delivery, RunResult


def print_warnings(warnings: list[Warning_]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}", markup=True, highlight=False)


def counts_table(result: RunResult) -> None:
    print_table(
        "Recipients",
        ["sub-audience", "group", "control", "recipients"],
        [(c.sub_audience, c.group, c.is_control, c.recipients) for c in result.counts],
    )


def power_table(power: list[GroupPower], window_days: int) -> None:
    """Each group's minimum detectable effect on conversion (a preview's)."""
    if not power:
        return
    rows = []
    for p in power:
        baseline = "—" if p.baseline is None else f"{p.baseline:.1%}"
        if p.is_control:
            rows.append((p.sub_audience, p.group, p.recipients, baseline, "control", "", ""))
            continue
        mde = "—" if p.mde is None else f"+{p.mde:.2%} ({p.relative or 0:.0%} of baseline)"
        note = "too small a control" if p.too_small and p.mde is not None else p.note or ""
        rows.append((p.sub_audience, p.group, p.recipients, baseline, p.control or "—", mde, note))
    print_table(
        f"Minimum detectable effect on conversion (α 0.05, power 0.8; baseline: share with "
        f"an order in the {window_days} days before today)",
        ["sub-audience", "group", "recipients", "baseline", "control", "MDE", "note"],
        rows,
    )


def deliveries_table(result: RunResult, title: str) -> None:
    rows = []
    for d in result.deliveries:
        drops = ", ".join(f"{reason} {count:,}" for reason, count in sorted(d.drops.items())) or "—"
        rows.append(
            (d.group, d.destination, d.output_name, d.records, drops, d.status, _outcome(d))
        )
    print_table(
        title,
        ["group", "destination", "list / file", "records", "dropped", "status", "result"],
        rows,
    )


def _outcome(delivery: Delivery) -> str:
    """What happened, briefly: the sync's counts, the file written, or why nothing was sent."""
    if delivery.status == "synced" and delivery.counts is not None:
        c = delivery.counts
        removed = c.get("removes", 0) + c.get("settled", 0)
        text = f"+{c.get('adds', 0):,} −{removed:,}"
        if c.get("updates"):
            text += f" ~{c['updates']:,} updated"
        if c.get("rejected"):
            text += f", {c['rejected']:,} rejected"
        return text
    if delivery.path is not None:
        return delivery.path.name
    return delivery.message or ""


def run_as_json(result: RunResult) -> dict[str, Any]:
    return {
        "run": result.run,
        "counts": result.counts,
        "deliveries": result.deliveries,
        "warnings": [str(w) for w in result.warnings],
    }


def exit_if_failed(result: RunResult) -> None:
    """Exit 1, after the tables, when a delivery failed or was not sent (the run is error),
    or the run was cancelled (it stopped before its lists were complete)."""
    if result.run is None or result.run.status not in ("error", "cancelled"):
        return
    ended = "was cancelled" if result.run.status == "cancelled" else "ended in error"
    err_console.print(
        f"[bold red]Error:[/] run {result.run.id} of '{result.run.campaign}' {ended}: "
        f"{escape(result.run.error or 'a delivery failed')}",
        markup=True,
        highlight=False,
    )
    sys.exit(1)


def show_run(result: RunResult) -> None:
    """Print a run's warnings, recipients and deliveries (campaign run, runs resume, demo)."""
    print_warnings(result.warnings)
    assert result.run is not None
    console.print(f"Run {result.run.id}: {result.run.status}")
    counts_table(result)
    deliveries_table(result, "Deliveries")
