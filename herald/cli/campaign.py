"""``herald campaign …``: list, show, validate, apply, preview, test, run, recipients, results,
runs; schedule, unschedule, archive and delete (`herald.cli._campaign_schedule`)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
import yaml

from herald.apply import explained, read_one
from herald.cli._campaign_schedule import COMMANDS as LIFECYCLE
from herald.cli._campaign_schedule import print_schedule, schedule_as_json
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
from herald.cli._progress import JsonProgress, SyncProgress
from herald.cli._results import (
    counts_table,
    deliveries_table,
    exit_if_failed,
    power_table,
    print_warnings,
    run_as_json,
    show_run,
)
from herald.core.results.query import parse_window
from herald.exceptions import NotFoundError
from herald.runs.estimate import estimate_campaign
from herald.runs.pipeline import run_campaign
from herald.runs.preview import first_load, preview_campaign, sample_campaign
from herald.runs.resume import shown_status
from herald.runs.snapshots import read_parquet_files
from herald.workspace import Workspace


@click.group("campaign")
def command() -> None:
    """Compose campaigns from segments and send their recipient groups.

    Example:

        herald campaign preview "Spring Reactivation"
    """


@command.command("list")
@json_option
@with_workspace
def list_(ws: Workspace, as_json: bool) -> None:
    """List campaigns with their status and last run.

    Example:

        herald campaign list
    """
    rows = []
    for item in ws.store.list("campaign"):
        state = ws.store.settle_campaign(item.name)
        last = ws.store.last_run(item.name)
        newest = ws.store.last_run(item.name, status=None)
        schedule = ws.store.schedule(item.name)
        rows.append(
            {
                "name": item.name,
                "version": item.active_version,
                "status": state.status,
                # A scheduled campaign stays scheduled after a failed run: this shows it.
                "last_run": shown_status(ws, newest) if newest else None,
                "last_delivered": last.finished_at if last else None,
                "next_run": schedule.next_at if schedule else None,
                "description": item.description,
            }
        )
    if as_json:
        print_json(rows)
        return
    print_table(
        None,
        ["name", "version", "status", "last run", "last delivered", "next run (UTC)", "about"],
        [tuple(r.values()) for r in rows],
    )


@command.command("show")
@click.argument("name")
@json_option
@with_workspace
def show(ws: Workspace, name: str, as_json: bool) -> None:
    """Show a campaign's definition, status and split salt.

    Example:

        herald campaign show "Spring Reactivation"
    """
    stored = ws.store.get("campaign", name, "active")
    state = ws.store.settle_campaign(name)
    scheduled = ws.campaigns.scheduled(name)
    if as_json:
        print_json(
            {
                "name": name,
                "version": stored.version,
                "status": state.status,
                "uid": state.uid,
                "definition": stored.definition,
                "schedule": schedule_as_json(scheduled) if scheduled else None,
            }
        )
        return
    console.print(
        f"[bold]{name}[/]  version {stored.version}, status {state.status}, split salt {state.uid}",
        markup=True,
    )
    if scheduled is not None:
        print_schedule(scheduled)
    console.print(yaml.safe_dump(stored.definition, sort_keys=False, allow_unicode=True).rstrip())


@command.command("validate")
@click.option("-f", "--file", "path", required=True, type=click.Path(exists=True, dir_okay=False))
@with_workspace
def validate(ws: Workspace, path: str) -> None:
    """Check a campaign file against the database, segments and destinations; writes nothing.

    Example:

        herald campaign validate -f spring.yaml
    """
    definition = read_one(path, "campaign")
    with explained(definition):
        campaign = ws.campaigns.parse(definition.doc, source=definition.source)
        warnings = ws.campaigns.validate(campaign, source=definition.source)
    print_warnings(warnings)
    console.print(f"Campaign '{campaign.name}' is valid ({len(warnings)} warning(s)).")


@command.command("apply")
@click.option("-f", "--file", "path", required=True, type=click.Path(exists=True, dir_okay=False))
@with_workspace
def apply(ws: Workspace, path: str) -> None:
    """Store a campaign file (idempotent; a changed definition makes a new version).

    Example:

        herald campaign apply -f spring.yaml
    """
    definition = read_one(path, "campaign")
    with explained(definition):
        result, warnings = ws.campaigns.apply(definition.doc, source=definition.source)
    print_warnings(warnings)
    console.print(
        f"Campaign '{result.version.name}': version {result.version.version} ({result.action})."
    )


@command.command("preview")
@click.argument("name")
@click.option(
    "--window",
    default="30d",
    show_default=True,
    help="The baseline conversion rate counts orders in this window before today.",
)
@json_option
@with_workspace
def preview(ws: Workspace, name: str, window: str, as_json: bool) -> None:
    """Counts per sub-audience, group and destination, drops by reason, and each group's
    minimum detectable effect on conversion against its control; sends nothing.

    Example:

        herald campaign preview "Spring Reactivation" --json
    """
    days = parse_window(window)
    result = preview_campaign(ws, name, window_days=days)
    if as_json:
        print_json({**run_as_json(result), "power": result.power})
        return
    print_warnings(result.warnings)
    counts_table(result)
    deliveries_table(result, "Per destination")
    power_table(result.power, days)
    loads = [f for f in first_load(ws, result) if f.seconds is not None]
    if loads:
        print_table(
            "Time to send if every record were new",
            ["destination", "records", "time", "by SFTP instead"],
            [
                (f.destination, f.records, _duration(f.seconds or 0.0),
                 _duration(f.sftp_seconds) if f.sftp_seconds is not None else "—")
                for f in loads
            ],
        )  # fmt: skip


@command.command("test")
@click.argument("name")
@click.option(
    "--records",
    "-n",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per group.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Folder for the sample files (default: .herald/tests/NAME).",
)
@json_option
@with_workspace
def test(ws: Workspace, name: str, records: int, out: str | None, as_json: bool) -> None:
    """Write the sample file each destination would receive; sends nothing.

    Example:

        herald campaign test "Spring Reactivation" --records 20
    """
    folder = Path(out) if out else ws.state_dir / "tests" / "_".join(name.split())
    result = sample_campaign(ws, name, records, folder)
    if as_json:
        print_json(run_as_json(result))
        return
    print_warnings(result.warnings)
    deliveries_table(result, f"Sample files in {folder}")


@command.command("run")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask, however long the estimate.")
@click.option(
    "--confirm-over",
    default=600.0,
    show_default=True,
    help="Ask before sending when Klaviyo lists need longer than this many seconds.",
)
@click.option("--reconcile", is_flag=True, help="Read each Klaviyo list back and repair drift.")
@click.option(
    "--now",
    "_now",
    is_flag=True,
    help="Run now, in the foreground, whatever the schedule (the default of this command).",
)
@json_option
@with_workspace
def run(
    ws: Workspace,
    name: str,
    yes: bool,
    confirm_over: float,
    reconcile: bool,
    _now: bool,
    as_json: bool,
) -> None:
    """Run a campaign now: build the audience, deliver it, log the recipients.

    Klaviyo lists are synced incrementally (adds and removes of what Herald added), with a
    progress bar per list; an interrupted run is resumed first. A scheduled campaign runs
    its pinned versions, and stays scheduled.

    Example:

        herald campaign run "Spring Reactivation" --yes
    """
    from herald.cli.runs import auto_prune

    auto_prune(ws)
    if not yes and _has_lists(ws, name):
        _confirm_estimate(ws, name, confirm_over)
    with JsonProgress() if as_json else SyncProgress() as progress:
        result = run_campaign(ws, name, reconcile=reconcile, progress=progress)
    if as_json:
        print_json(run_as_json(result))
    else:
        show_run(result)
    exit_if_failed(result)


def _has_lists(ws: Workspace, name: str) -> bool:
    """Whether a group of the campaign goes to a list (whose sync the estimate times)."""
    kinds = ws.campaigns.destinations()
    campaign, _ = ws.campaigns.load(name)
    return any(
        kinds.get(d.destination) is not None and kinds[d.destination].is_list
        for sub in campaign.all_sub_audiences()
        for g in sub.groups
        for d in g.destinations
    )


def _confirm_estimate(ws: Workspace, name: str, threshold: float) -> None:
    found = estimate_campaign(ws, name)
    if found.seconds <= threshold:
        return
    question = (
        f"Klaviyo lists of '{name}' need about {_duration(found.seconds)} under Klaviyo's rate "
        f"limits (an SFTP import would take about {_duration(found.sftp_seconds)}). Send now?"
    )
    if not sys.stdin.isatty():
        msg = f"{question.removesuffix(' Send now?')}; rerun with --yes to send without asking"
        raise click.UsageError(msg)
    if not click.confirm(question, default=False, err=True):
        raise click.Abort


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@command.command("estimate")
@click.argument("name")
@json_option
@with_workspace
def estimate(ws: Workspace, name: str, as_json: bool) -> None:
    """Calls per endpoint and the time each Klaviyo list needs under the rate limits (and
    each SFTP upload at its throughput), beside the SFTP alternative; sends nothing.

    Example:

        herald campaign estimate "Spring Reactivation"
    """
    found = estimate_campaign(ws, name)
    if as_json:
        print_json(
            {
                "lists": found.lists,
                "calls": dict(found.total.calls),
                "phase_seconds": dict(found.total.phase_seconds),
                "seconds": found.seconds,
                "local_seconds": found.local_seconds,
                "klaviyo_seconds": found.total.seconds,
                "sftp_seconds": found.sftp_seconds,
                "warnings": list(found.total.warnings),
            }
        )
        return
    print_table(
        "Lists and uploads",
        ["destination", "list / file", "adds", "updates", "removes", "list size", "time alone"],
        [
            (
                e.destination,
                e.list_name,
                e.adds,
                e.updates,
                e.removes,
                e.list_size,
                _duration(e.seconds),
            )
            for e in found.lists
        ],
    )
    print_table("Calls", ["operation", "calls"], sorted(found.total.calls.items()))
    phases = ", ".join(f"{k} {_duration(v)}" for k, v in found.total.phase_seconds.items() if v)
    console.print(
        f"Estimated time: {_duration(found.seconds)}: local work {_duration(found.local_seconds)}"
        f" (measured while estimating), then sending {_duration(found.total.seconds)}"
        f" ({phases or 'nothing to send'})"
    )
    sftp = _duration(found.sftp_seconds)
    console.print(f"SFTP alternative (CSV with Email, PhoneNumber, ExternalID): about {sftp}")
    for warning in found.total.warnings:
        err_console.print(f"[yellow]Warning:[/] {warning}", markup=True, highlight=False)


@command.command("recipients")
@click.argument("name")
@click.option("--run", "run_id", help="A run id (default: the last delivered run).")
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False), help="Export every row to this CSV file."
)
@click.option("--limit", default=20, show_default=True, help="Rows to print.")
@json_option
@with_workspace
def recipients(
    ws: Workspace, name: str, run_id: str | None, csv_path: str | None, limit: int, as_json: bool
) -> None:
    """The recipients log of a run: one row per recipient and destination, control included.

    Example:

        herald campaign recipients "Spring Reactivation" --csv recipients.csv
    """
    run_ = ws.store.get_run(run_id) if run_id else ws.store.last_run(name)
    if run_ is None:
        msg = (
            f"campaign '{name}' has no delivered run yet; "
            f"run it with `herald campaign run '{name}'`"
        )
        raise NotFoundError(msg)
    if run_.campaign != name:
        msg = f"run {run_.id} belongs to campaign '{run_.campaign}', not '{name}'"
        raise NotFoundError(msg)
    table = read_parquet_files([ws.runs_dir / run_.id / "recipients_log.parquet"])
    show_or_export(table, title=f"Run {run_.id}", csv_path=csv_path, limit=limit, as_json=as_json)


@command.command("results")
@click.argument("name")
@click.option("--run", "run_id", help="One run only (default: every run, pooled and one by one).")
@click.option(
    "--window",
    default="30d",
    show_default=True,
    metavar="DAYS",
    help="Days from the launch date that count, such as 30d or 4w.",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]),
    help="Count only orders before this UTC date or time (default: now).",
)
@click.option("--no-cuped", is_flag=True, help="Do not adjust revenue by the pre-period's.")
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False), help="Write every figure to this CSV."
)
@json_option
@with_workspace
def results(
    ws: Workspace,
    name: str,
    run_id: str | None,
    window: str,
    as_of: dt.datetime | None,
    no_cuped: bool,
    csv_path: str | None,
    as_json: bool,
) -> None:
    """Each group against its sub-audience's control group, from the launch date: conversion,
    revenue per recipient and incremental revenue, with 95 % intervals and p-values.

    Every recipient assigned to a group counts (intent to treat). Revenue intervals use the
    pre-period's revenue (CUPED) unless --no-cuped.

    Example:

        herald campaign results "Spring Reactivation" --window 30d
    """
    from herald.cli._lift import print_results, write_results_csv
    from herald.runs.results import campaign_results

    days = parse_window(window)  # a bad window: one line naming it
    moment = as_of.replace(tzinfo=dt.UTC) if as_of else None
    found = campaign_results(
        ws, name, run_id=run_id, window_days=days, as_of=moment, cuped=not no_cuped
    )
    if csv_path:
        rows = write_results_csv(found, Path(csv_path))
        console.print(f"Wrote {rows:,} rows to {csv_path}", markup=False)
    elif as_json:
        print_json(found)
    else:
        print_results(found)


@command.command("runs")
@click.argument("name")
@json_option
@with_workspace
def runs(ws: Workspace, name: str, as_json: bool) -> None:
    """List a campaign's runs, newest first.

    Example:

        herald campaign runs "Spring Reactivation"
    """
    items = ws.store.list_runs(name)
    if as_json:
        print_json([{**to_jsonable(r), "status": shown_status(ws, r)} for r in items])
        return
    print_table(
        None,
        ["run", "version", "status", "started", "finished", "recipients"],
        [
            (
                r.id,
                r.campaign_version,
                shown_status(ws, r),
                r.started_at,
                r.finished_at,
                (r.stats or {}).get("recipients"),
            )
            for r in items
        ],
    )


for _lifecycle in LIFECYCLE:
    command.add_command(_lifecycle)
