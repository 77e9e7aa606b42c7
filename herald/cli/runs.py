"""``herald runs …``: list runs, show one, watch one live, resume an interrupted one, export
outcomes, prune old runs' files, cancel a running run, retry a failed one."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from herald.cli._common import (
    console,
    err_console,
    json_option,
    print_json,
    print_table,
    show_or_export,
    to_jsonable,
    with_workspace,
)
from herald.cli._history import (
    LIST_COLUMNS,
    details_json,
    exit_unless_delivered,
    follow,
    history,
    history_row,
    print_details,
)
from herald.cli._progress import JsonProgress, SyncProgress
from herald.exceptions import ConfigError, NotFoundError
from herald.runs.pipeline import resume_run
from herald.runs.prune import PruneReport, parse_age, prune_runs
from herald.runs.snapshots import read_parquet_files
from herald.workspace import Workspace

if TYPE_CHECKING:
    from herald.state import Run


@click.group("runs")
def command() -> None:
    """Inspect campaign runs, resume interrupted ones, export per-profile outcomes.

    Cancel a running run at its next batch boundary, or retry what failed in a failed one.

    Example:

        herald runs list
    """


@command.command("list")
@click.option("--campaign", help="Only this campaign's runs.")
@click.option("--limit", default=20, show_default=True)
@json_option
@with_workspace
def list_(ws: Workspace, campaign: str | None, limit: int, as_json: bool) -> None:
    """List runs, newest first, with the slots schedules missed (status ``missed``); a run
    whose process died shows as ``interrupted``.

    Example:

        herald runs list --campaign "Spring Reactivation"
    """
    items = history(ws, campaign, limit)
    if as_json:
        print_json(items)
        return
    print_table(None, LIST_COLUMNS, [history_row(item) for item in items])


@command.command("show")
@click.argument("run_id")
@json_option
@with_workspace
def show(ws: Workspace, run_id: str, as_json: bool) -> None:
    """Show a run: trigger and slot, pinned versions, as-of and launch date, time per phase,
    recipients per group, figures per destination, drops, errors, and each list delivery.

    Example:

        herald runs show run_20261201T101500_a1b2c3
    """
    run = ws.store.get_run(run_id)
    if as_json:
        print_json(details_json(ws, run))
        return
    print_details(ws, run)


@command.command("watch")
@click.argument("run_id")
@click.option(
    "--poll",
    default=0.5,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds between two reads of the state store.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each event as a JSON line.")
@with_workspace
def watch(ws: Workspace, run_id: str, poll: float, as_json: bool) -> None:
    """Follow a run, whichever process runs it, until it ends: progress bars per list and a
    line per phase (or its events as JSON lines), then its summary. Exits 1 when the run
    ended in error or cancelled.

    Example:

        herald runs watch run_20261201T101500_a1b2c3
    """
    run = follow(ws, run_id, as_json=as_json, poll=poll)
    if as_json:
        sys.stdout.write(json.dumps({"run": to_jsonable(run)}, ensure_ascii=False) + "\n")
    else:
        print_details(ws, run)
    exit_unless_delivered(ws, run)


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
    from herald.cli._results import exit_if_failed, show_run

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
    files = sorted((ws.runs_dir / run_id / "deliveries").glob("*/outcomes.parquet"))
    if not files:
        msg = f"run {run_id} has no per-profile outcomes (no list delivery finished in it)"
        raise NotFoundError(msg)
    table = read_parquet_files(files)
    show_or_export(table, title="Outcomes", csv_path=csv_path, limit=limit, as_json=as_json)


@command.command("prune")
@click.option(
    "--older-than",
    "older_than",
    metavar="AGE",
    help="Prune runs finished longer ago than AGE, such as 30d, 36h or 2w "
    "(default: [runs] retention_days).",
)
@click.option("--dry-run", is_flag=True, help="Only show what would be removed.")
@json_option
@with_workspace
def prune(ws: Workspace, older_than: str | None, dry_run: bool, as_json: bool) -> None:
    """Remove the files with emails and phones of runs past their retention.

    A finished run's snapshot and its prepared and diff files go; its recipients log and
    per-profile outcomes (customer keys only) and the list ledgers stay. Running and
    interrupted runs, and a campaign's newest run when it ended in error, keep everything.

    Example:

        herald runs prune --older-than 30d --dry-run
    """
    try:
        age = parse_age(older_than) if older_than is not None else None
    except ConfigError as error:
        raise click.BadParameter(str(error), param_hint="--older-than") from None
    report = prune_runs(ws, older_than=age, dry_run=dry_run)
    if as_json:
        print_json({**to_jsonable(report), "files": report.files, "bytes": report.bytes})
        return
    print_prune_report(report)


def auto_prune(ws: Workspace) -> None:
    """Prune run files past ``[runs] retention_days`` (before each ``campaign run``).

    It costs a listing of the runs and of their folders; it says one line on stderr when it
    removed anything, and a failure to prune never stops the campaign.
    """
    try:
        report = prune_runs(ws)
    except OSError as error:
        err_console.print(f"Could not prune old run files: {error.strerror}", markup=False)
        return
    if report.files:
        days = ws.settings.runs.retention_days
        err_console.print(
            f"Pruned {report.files:,} files ({_bytes(report.bytes)}) with emails and phones of "
            f"{_runs(len(report.runs))} older than {days} days ([runs] retention_days).",
            markup=False,
        )
    for path, reason in report.failures:
        err_console.print(f"Could not remove {path}: {reason}", markup=False)


def print_prune_report(report: PruneReport) -> None:
    """Say what pruning removed (or would remove), what it kept and what failed."""
    verb = "Would remove" if report.dry_run else "Removed"
    cutoff = f"{report.cutoff:%Y-%m-%d %H:%M} UTC"
    if not report.files:
        console.print(
            f"Nothing to prune: no file with emails or phones is older than {cutoff}.",
            markup=False,
        )
    else:
        console.print(
            f"{verb} {report.files:,} files ({_bytes(report.bytes)}) holding emails and phones: "
            f"{_runs(len(report.runs))} finished before {cutoff}"
            + (
                f", and {report.scratch_files:,} old preview and test files"
                if report.scratch_files
                else ""
            )
            + ".",
            markup=False,
        )
    if report.runs:
        print_table(
            None,
            ["run", "campaign", "finished", "files", "size"],
            [(r.run_id, r.campaign, r.finished_at, r.files, _bytes(r.bytes)) for r in report.runs],
        )
    for run_id, why in report.kept:
        console.print(f"Kept {run_id}: {why}.", markup=False)
    for path, reason in report.failures:
        err_console.print(f"Could not remove {path}: {reason}", markup=False)


def _runs(count: int) -> str:
    return f"{count:,} run" if count == 1 else f"{count:,} runs"


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"


@command.command("cancel")
@click.argument("run_id")
@click.option("--wait", is_flag=True, help="Wait for the run to end, then say how it ended.")
@json_option
@with_workspace
def cancel(ws: Workspace, run_id: str, wait: bool, as_json: bool) -> None:
    """Stop a running run at its next batch boundary.

    No new batch is sent; batches already sent are confirmed, and each list keeps exactly
    the confirmed work (its ledger says so), so the next run makes it exact. The command
    returns at once; an interrupted run (no live process) is stopped by the command itself.

    Example:

        herald runs cancel run_20261201T101500_a1b2c3 --wait
    """
    from herald.runs.cancel import cancel_run, wait_for_run

    with JsonProgress() if as_json else SyncProgress() as progress:
        done = cancel_run(ws, run_id, progress=progress)
        run = wait_for_run(ws, run_id) if wait and not done.stopped_here else done.run
    if as_json:
        print_json({"run": run, "stopped_here": done.stopped_here})
    elif run.status == "running":
        console.print(
            f"Run {run_id} will stop at its next batch boundary (`herald runs cancel "
            f"{run_id} --wait` waits for it).",
            markup=False,
        )
    else:
        how = "Stopped the interrupted run" if done.stopped_here else "Run"
        console.print(f"{how} {run_id}: {_ended(run)}", markup=False)
    if run.status == "error":
        sys.exit(1)


def _ended(run: Run) -> str:
    if run.status == "cancelled":
        return f"cancelled ({run.error})" if run.error else "cancelled"
    if run.status == "delivered":
        return "delivered: its work was done before it reached a batch boundary"
    return f"{run.status}: {run.error or ''}".rstrip(": ")


@command.command("retry")
@click.argument("run_id")
@click.option("--destination", "destination", help="Retry only the failures at this destination.")
@click.option("--reconcile", is_flag=True, help="Also read each list back and repair drift.")
@json_option
@with_workspace
def retry(
    ws: Workspace, run_id: str, destination: str | None, reconcile: bool, as_json: bool
) -> None:
    """Re-run only what failed in a run that ended in error.

    A new run (trigger retry) of the same campaign version, pinned segments and as-of time
    delivers only the groups the failed run did not deliver; the lists and files it did
    deliver are left alone.

    Example:

        herald runs retry run_20261201T101500_a1b2c3 --destination klaviyo
    """
    from herald.cli._results import exit_if_failed, run_as_json, show_run
    from herald.runs.retry import retry_run

    with JsonProgress() if as_json else SyncProgress() as progress:
        result = retry_run(
            ws, run_id, destination=destination, reconcile=reconcile, progress=progress
        )
    if as_json:
        print_json(run_as_json(result))
    else:
        show_run(result)
    exit_if_failed(result)
