"""The demo's known truth: a simulated campaign effect, and the lift measured beside it.

`herald demo` simulates, after its runs, an uplift in conversion for the example campaign's
treated recipients over the window after its launch date
(:func:`herald.demo.effect.simulate_effect`), then measures the campaign's results as of the
window's end (:func:`herald.runs.results.campaign_results`) and shows each group's measured
relative lift, with its interval, beside the uplift simulated. The simulated orders are then
removed: the workspace the demo leaves holds only the generated data. In a Spark demo
workspace both changes are exported to its lake as well (:func:`refresh_lake`).
"""

from __future__ import annotations

from pathlib import Path

from herald.cli._common import console, percent, print_table
from herald.cli._demo_engine import refresh_lake
from herald.demo.effect import TABLE, Effect, clear_effect, simulate_effect
from herald.exceptions import HeraldError
from herald.runs.results import CampaignResults, campaign_results, log_path, measured_runs
from herald.workspace import Workspace

WINDOW_DAYS = 30


def simulate_for(
    root: Path, name: str, *, uplift: float, seed: int, window_days: int = WINDOW_DAYS
) -> Effect:
    """Simulate the effect for every measured run of campaign ``name`` in the workspace at
    ``root`` (the workspace is closed while its database is written), and export the orders
    to the lake of a Spark demo workspace.

    Raises:
        HeraldError: no measured run, or the data does not allow it (one line).
    """
    with Workspace.open(root) as ws:
        runs = measured_runs(ws, name)
        logs = [log_path(ws, r.id) for r in runs]
        if not logs:
            ws.store.get("campaign", name, "latest")  # an unknown name: "not found"
        database, key = ws.database_path, ws.catalog.customer_key
    effect = simulate_effect(
        database, logs, uplift=uplift, window_days=window_days, seed=seed, key=key
    )
    _refresh(root)
    return effect


def clear_for(root: Path) -> None:
    """Remove the simulated orders from the workspace's demo database (and its lake)."""
    with Workspace.open(root) as ws:
        database = ws.database_path
    clear_effect(database)
    _refresh(root)


def _refresh(root: Path) -> None:
    with Workspace.open(root) as ws:
        refresh_lake(ws, [TABLE])


def show_effect(root: Path, name: str, *, uplift: float, seed: int, step: str) -> None:
    """Simulate, measure and show, then remove the simulated orders: they lie after the
    launch, and the segments of the runs to come (``has not purchased within …``) would see
    them. A simulation that cannot be made is said in one line."""
    try:
        effect = simulate_for(root, name, uplift=uplift, seed=seed)
    except HeraldError as error:
        console.print(f"[bold]{step}[/] No simulated effect: {error}", markup=True)
        return
    try:
        with Workspace.open(root) as ws:
            results = campaign_results(ws, name, window_days=effect.window_days, as_of=effect.end)
    finally:
        clear_for(root)
    console.print(
        f"[bold]{step}[/] Simulated a {uplift:+.0%} uplift in conversion for the "
        f"{effect.treated:,} treated recipients of '{name}' (none for its control groups) over "
        f"the {effect.window_days} days after the launch ({effect.start:%Y-%m-%d}): "
        f"{effect.orders:,} orders; the results as of {effect.end:%Y-%m-%d}, then the simulated "
        f"orders removed again (`herald demo generate --effect-campaign '{name}'` adds them "
        "for a look of your own):",
        markup=True,
    )
    print_table(
        f"Measured lift beside the simulated uplift ({results.confidence:.0%} intervals)",
        ["sub-audience", "group", "recipients", "conversion", "control", "measured lift",
         "interval", "simulated"],
        measured_rows(results, uplift),
    )  # fmt: skip


def measured_rows(results: CampaignResults, uplift: float) -> list[tuple[object, ...]]:
    """Per treatment group of the first section (pooled when there are several runs): the
    measured relative lift in conversion, its interval, and the simulated uplift."""
    rows: list[tuple[object, ...]] = []
    section = results.sections[0]
    controls = {(g.sub_audience, g.group): g for g in section.groups if g.is_control}
    for g in section.groups:
        if g.is_control or g.lift is None:
            continue
        control = controls[g.sub_audience, g.control or ""]
        e = g.lift.conversion_relative
        value = "—" if e.value is None else f"{e.value:+.1%}"
        interval = "—" if e.low is None or e.high is None else f"[{e.low:+.1%}, {e.high:+.1%}]"
        rows.append(
            (g.sub_audience, g.group, g.sums.recipients, percent(g.conversion),
             percent(control.conversion), value, interval, f"{uplift:+.0%}")
        )  # fmt: skip
    return rows
