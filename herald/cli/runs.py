"""``herald runs …``: list runs, show one, resume an interrupted one, export outcomes."""

from __future__ import annotations

import click

from herald.cli._common import (
    console,
    json_option,
    print_json,
    print_table,
    show_or_export,
    to_jsonable,
    with_workspace,
)
from herald.cli._progress import JsonProgress, SyncProgress
from herald.exceptions import NotFoundError
from herald.runs.pipeline import runs_dir
from herald.runs.resume import resume_run, shown_status
from herald.runs.snapshots import read_parquet_files
from herald.workspace import Workspace


@click.group("runs")
def command() -> None:
    """Inspect campaign runs, resume interrupted ones, export per-profile outcomes.

    Example:

        herald runs list
    """


@command.command("list")
@click.option("--campaign", help="Only this campaign's runs.")
@click.option("--limit", default=20, show_default=True)
@json_option
@with_workspace
def list_(ws: Workspace, campaign: str | None, limit: int, as_json: bool) -> None:
    """List runs, newest first; a run whose process died shows as ``interrupted``.

    Example:

        herald runs list --campaign "Spring Reactivation"
    """
    items = ws.store.list_runs(campaign, limit=limit)
    if as_json:
        print_json([{**to_jsonable(r), "status": shown_status(ws, r)} for r in items])
        return
    rows = [
        (
            r.id,
            r.campaign,
            r.campaign_version,
            r.kind,
            shown_status(ws, r),
            r.started_at,
            r.finished_at,
            (r.stats or {}).get("recipients"),
        )
        for r in items
    ]
    print_table(
        None,
        ["run", "campaign", "version", "kind", "status", "started", "finished", "recipients"],
        rows,
    )


@command.command("show")
@click.argument("run_id")
@json_option
@with_workspace
def show(ws: Workspace, run_id: str, as_json: bool) -> None:
    """Show a run: status, pinned versions, and each list delivery with its batches.

    Example:

        herald runs show run_20261201T101500_a1b2c3
    """
    run = ws.store.get_run(run_id)
    deliveries = ws.store.run_deliveries(run_id)
    if as_json:
        print_json({"run": run, "deliveries": deliveries})
        return
    console.print(
        f"[bold]{run.id}[/]  {run.campaign} v{run.campaign_version}  {run.status}", markup=True
    )
    if run.error:
        console.print(f"error: {run.error}")
    console.print(f"pinned segments: {run.pins}")
    print_table(
        "List deliveries",
        ["destination", "list", "list id", "status", "counts"],
        [(d.destination, d.list_name, d.list_id, d.status, d.counts) for d in deliveries],
    )


@command.command("resume")
@click.argument("run_id")
@click.option("--reconcile", is_flag=True, help="Also read each list back and repair drift.")
@json_option
@with_workspace
def resume(ws: Workspace, run_id: str, reconcile: bool, as_json: bool) -> None:
    """Finish an interrupted run: confirmed batches are never sent again.

    Example:

        herald runs resume run_20261201T101500_a1b2c3
    """
    from herald.cli.campaign import exit_if_failed, show_run

    with JsonProgress() if as_json else SyncProgress() as progress:
        result = resume_run(ws, run_id, reconcile=reconcile, progress=progress)
    if as_json:
        print_json({"run": result.run, "deliveries": result.deliveries})
    else:
        show_run(result)
    exit_if_failed(result)


@command.command("outcomes")
@click.argument("run_id")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Export every row to CSV.")
@click.option("--limit", default=20, show_default=True, help="Rows to print.")
@json_option
@with_workspace
def outcomes(ws: Workspace, run_id: str, csv_path: str | None, limit: int, as_json: bool) -> None:
    """Per-profile outcomes of a run's list deliveries: sent, rejected (with Klaviyo's
    reason), removed, skipped as invalid.

    Example:

        herald runs outcomes run_20261201T101500_a1b2c3 --csv outcomes.csv
    """
    ws.store.get_run(run_id)
    files = sorted((runs_dir(ws) / run_id / "deliveries").glob("*/outcomes.parquet"))
    if not files:
        msg = f"run {run_id} has no per-profile outcomes (no list delivery finished in it)"
        raise NotFoundError(msg)
    table = read_parquet_files(files)
    show_or_export(table, title="Outcomes", csv_path=csv_path, limit=limit, as_json=as_json)
