"""The run history for people: a run's details (``herald runs show``), the runs listed with the
slots schedules missed (``runs list``), and following a run live (``runs watch``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any

from rich.markup import escape

from herald.cli._common import console, err_console, fmt, print_table, to_jsonable
from herald.cli._progress import SyncProgress
from herald.runs.events import to_sync_event, watch_run
from herald.runs.history import phase_rows, run_header
from herald.runs.resume import shown_status
from herald.state import Run, RunEvent, SlotRecord
from herald.workspace import Workspace

# --- runs list --------------------------------------------------------------------------------

LIST_COLUMNS = [
    "run",
    "campaign",
    "version",
    "kind",
    "trigger",
    "slot",
    "status",
    "started",
    "finished",
    "recipients",
]


def history(ws: Workspace, campaign: str | None, limit: int) -> list[dict[str, Any]]:
    """Runs and missed slots, newest first (by start, or by slot for a missed one)."""
    runs = [_run_item(ws, r) for r in ws.store.list_runs(campaign, limit=limit)]
    missed = [_missed_item(s) for s in ws.store.schedule_slots(campaign) if s.outcome == "missed"]
    items = sorted([*runs, *missed], key=lambda item: item["started_at"], reverse=True)
    return items[:limit]


def _run_item(ws: Workspace, run: Run) -> dict[str, Any]:
    return {**to_jsonable(run), "status": shown_status(ws, run), "started_at": run.started_at}


def _missed_item(slot: SlotRecord) -> dict[str, Any]:
    return {
        "id": None,
        "campaign": slot.campaign,
        "campaign_version": None,
        "kind": "run",
        "trigger": "schedule",
        "slot": slot.slot.isoformat(),
        "status": "missed",
        "started_at": slot.slot,
        "finished_at": None,
        "stats": None,
        "skipped": slot.skipped,
    }


def history_row(item: dict[str, Any]) -> tuple[Any, ...]:
    slot = item.get("slot")
    return (
        item["id"],
        item["campaign"],
        item["campaign_version"],
        item["kind"],
        item["trigger"],
        dt.datetime.fromisoformat(slot) if slot else None,
        item["status"],
        item["started_at"],
        _when(item["finished_at"]),
        (item["stats"] or {}).get("recipients"),
    )


def _when(value: Any) -> Any:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


# --- runs show --------------------------------------------------------------------------------


def print_details(ws: Workspace, run: Run) -> None:
    """A run's header, phases, recipients, destinations, drops, errors and list deliveries."""
    stats = run.stats or {}
    console.print(
        f"[bold]{run.id}[/]  {escape(run.campaign)} v{run.campaign_version}  "
        f"{shown_status(ws, run)}",
        markup=True,
    )
    for label, value in run_header(run):
        console.print(f"{label}: {fmt(value)}", markup=False)
    for destination, why in (stats.get("errors") or {}).items():
        console.print(f"error at {destination}: {why}", markup=False)
    if run.error and not stats.get("errors"):
        console.print(f"error: {run.error}", markup=False)
    _tables(stats)
    deliveries = ws.store.run_deliveries(run.id)
    if deliveries:
        print_table(
            "List deliveries",
            ["destination", "list", "list id", "status", "adds", "updates", "removes"],
            [
                (d.destination, d.list_name, d.list_id, d.status, *_changes(d.counts))
                for d in deliveries
            ],
        )


def _tables(stats: dict[str, Any]) -> None:
    rows = phase_rows(stats)
    if rows:
        print_table("Phases", ["phase", "seconds"], rows)
    if stats.get("groups"):
        print_table(
            "Recipients",
            ["sub-audience", "group", "control", "recipients"],
            [
                (g["sub_audience"], g["group"], g["control"], g["recipients"])
                for g in stats["groups"]
            ],
        )
    if stats.get("targets"):
        print_table(
            "Deliveries",
            ["sub-audience", "group", "destination", "list / file", "records", "dropped", "status"],
            [
                (t["sub_audience"], t["group"], t["destination"], t["output_name"],
                 t["records"], _drops(t["drops"]), t["status"])
                for t in stats["targets"]
            ],
        )  # fmt: skip
    if stats.get("destinations"):
        print_table(
            "Destinations",
            ["destination", "groups", "records", "delivered", "failed"],
            [(name, *d.values()) for name, d in stats["destinations"].items()],
        )
    if stats.get("drops"):
        print_table("Dropped", ["reason", "customers"], list(stats["drops"].items()))
    if stats.get("files"):
        print_table("Files", ["destination / file", "written"], list(stats["files"].items()))


def _drops(drops: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count:,}" for reason, count in sorted(drops.items())) or "—"


def _changes(counts: dict[str, Any]) -> tuple[Any, Any, Any]:
    return counts.get("adds"), counts.get("updates"), counts.get("removes")


def details_json(ws: Workspace, run: Run) -> dict[str, Any]:
    return {
        "run": {**to_jsonable(run), "status": shown_status(ws, run)},
        "deliveries": to_jsonable(ws.store.run_deliveries(run.id)),
    }


# --- runs watch -------------------------------------------------------------------------------


def follow(ws: Workspace, run_id: str, *, as_json: bool, poll: float) -> Run:
    """Show a run's events as they come until it ends (bars, or JSON lines); the run then."""
    run = ws.store.get_run(run_id)
    if as_json:
        asyncio.run(_each_event(ws, run_id, poll, _json_line))
    elif run.status == "running":  # a finished run gets its summary alone
        with SyncProgress() as bars:
            asyncio.run(_each_event(ws, run_id, poll, lambda event: _render(bars, event)))
    return ws.store.get_run(run_id)


async def _each_event(
    ws: Workspace, run_id: str, poll: float, show: Callable[[RunEvent], None]
) -> None:
    async for event in watch_run(ws.store, run_id, poll=poll):
        show(event)


def _json_line(event: RunEvent) -> None:
    sys.stdout.write(json.dumps({"event": to_jsonable(event)}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _render(bars: SyncProgress, event: RunEvent) -> None:
    sync = to_sync_event(event)
    if sync is not None:
        bars(sync)
    elif event.kind == "phase_finished":
        failed = " (failed)" if event.payload.get("failed") else ""
        bars.note(f"{event.payload.get('phase')}: {event.payload.get('seconds', 0):.1f} s{failed}")


def exit_unless_delivered(ws: Workspace, run: Run) -> None:
    """Exit 1 (after the summary) for a run that ended error or cancelled, or was left
    interrupted; nothing for a delivered one."""
    status = shown_status(ws, run)
    if status == "delivered":
        return
    if status == "interrupted":
        why = f"was interrupted: finish it with `herald runs resume {run.id}`"
    else:
        why = f"ended {status}" + (f": {run.error}" if run.error else "")
    err_console.print(
        f"[bold red]Error:[/] run {run.id} of '{escape(run.campaign)}' {escape(why)}",
        markup=True,
        highlight=False,
    )
    sys.exit(1)
