"""``herald campaign schedule | unschedule | archive | delete``: a campaign's lifecycle."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import click

from herald.campaigns import Scheduled
from herald.cli._common import console, json_option, print_json, to_jsonable, with_workspace
from herald.cli._results import print_warnings
from herald.workspace import Workspace


def local_time(moment: dt.datetime, timezone: str) -> str:
    """``2026-12-07 09:00 America/New_York (14:00 UTC)``: a slot as the marketer set it."""
    local = moment.astimezone(ZoneInfo(timezone))
    shown = f"{local:%Y-%m-%d %H:%M} {timezone}"
    if timezone == "UTC":
        return shown
    return f"{shown} ({moment.astimezone(dt.UTC):%H:%M} UTC)"


def print_schedule(scheduled: Scheduled) -> None:
    """The pinned versions and the next runs of a scheduled campaign."""
    schedule, delivery = scheduled.schedule, scheduled.campaign.delivery
    pins = ", ".join(f"{name} v{version}" for name, version in sorted(schedule.pins.items()))
    console.print(f"pinned: campaign v{schedule.campaign_version}; segments: {pins or 'none'}")
    if schedule.scheduled_by:
        console.print(
            f"scheduled by {schedule.scheduled_by} at {schedule.scheduled_at:%Y-%m-%d %H:%M} UTC"
        )
    if not scheduled.next_runs:
        console.print("next runs: none (the schedule has ended)")
        return
    console.print("next runs:")
    for moment in scheduled.next_runs:
        console.print(f"  {local_time(moment, delivery.timezone)}")


def schedule_as_json(scheduled: Scheduled) -> dict[str, object]:
    return {
        "campaign": scheduled.schedule.campaign,
        "status": "scheduled",
        "schedule": to_jsonable(scheduled.schedule),
        "next_runs": [m.isoformat() for m in scheduled.next_runs],
        "timezone": scheduled.campaign.delivery.timezone,
    }


@click.command("schedule")
@click.argument("name")
@json_option
@with_workspace
def schedule(ws: Workspace, name: str, as_json: bool) -> None:
    """Schedule a campaign: validate it, pin its versions, and let `herald scheduler` run it.

    Its active version and its segments' active versions are pinned: activating a new
    version later changes nothing until the campaign is scheduled again.

    Example:

        herald campaign schedule "Spring Reactivation"
    """
    scheduled = ws.campaigns.schedule(name)
    if as_json:
        print_json(schedule_as_json(scheduled))
        return
    print_warnings(scheduled.warnings)
    console.print(f"Scheduled campaign '{name}'.")
    print_schedule(scheduled)
    console.print("Runs start while `herald scheduler` is running.")


@click.command("unschedule")
@click.argument("name")
@json_option
@with_workspace
def unschedule(ws: Workspace, name: str, as_json: bool) -> None:
    """Stop a campaign's schedule and make it a draft again, for editing.

    Example:

        herald campaign unschedule "Spring Reactivation"
    """
    state = ws.campaigns.unschedule(name)
    if as_json:
        print_json({"campaign": name, "status": state.status})
        return
    console.print(f"Campaign '{name}' is a draft again; its schedule is dropped.")


@click.command("archive")
@click.argument("name")
@json_option
@with_workspace
def archive(ws: Workspace, name: str, as_json: bool) -> None:
    """Archive a campaign: it keeps its run history and never runs again.

    Example:

        herald campaign archive "Spring Reactivation"
    """
    state = ws.campaigns.archive(name)
    if as_json:
        print_json({"campaign": name, "status": state.status})
        return
    console.print(f"Campaign '{name}' is archived.")


@click.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask.")
@with_workspace
def delete(ws: Workspace, name: str, yes: bool) -> None:
    """Delete a draft or scheduled campaign with its versions (its runs stay as history).

    Example:

        herald campaign delete "Old Test" --yes
    """
    if not yes:
        click.confirm(f"Delete campaign '{name}' and all its versions?", abort=True)
    ws.campaigns.delete(name)
    console.print(f"Deleted campaign '{name}'.")


COMMANDS = (schedule, unschedule, archive, delete)
