"""The four sections of the web app, as the library already gives them: segments, campaigns,
runs and destinations. Each page only calls the library (DESIGN §2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from herald.exceptions import HeraldError
from herald.redact import redact
from herald.runs.resume import shown_status
from herald.web.render import blocking, no_scheduler, render, with_engine, workspace
from herald.workspace import Workspace

RUNS_SHOWN = 100


async def home(request: Request) -> Response:
    return RedirectResponse("/segments", 303)


async def segments(request: Request) -> Response:
    """Segments with their active and draft versions."""
    items = await blocking(workspace(request).segments.list)
    return render(request, "segments.html", {"segments": items}, data=items)


async def activate_segment(request: Request) -> Response:
    """Activate a segment's draft (editors); the name comes in the form, never the URL."""
    form = await request.form()
    name = str(form.get("name") or "")
    ws = workspace(request)
    await with_engine(request, ws.segments.activate, name)
    return RedirectResponse("/segments", 303)


async def campaigns(request: Request) -> Response:
    """Campaigns with their status, next run and last run (as ``herald campaign list``)."""
    ws = workspace(request)
    rows = await blocking(_campaign_rows, ws)
    idle = await no_scheduler(request) if any(r["next_run"] for r in rows) else None
    context = {"campaigns": rows, "no_scheduler": idle}
    return render(request, "campaigns.html", context, data=rows)


def _campaign_rows(ws: Workspace) -> list[dict[str, Any]]:
    rows = []
    for item in ws.store.list("campaign"):
        newest = ws.store.last_run(item.name, status=None)
        schedule = ws.store.schedule(item.name)
        rows.append(
            {
                "name": item.name,
                "version": item.active_version,
                "status": ws.store.settle_campaign(item.name).status,
                "last_run": shown_status(ws, newest) if newest else None,
                "last_run_id": newest.id if newest else None,
                "last_run_at": newest.started_at if newest else None,
                "next_run": schedule.next_at if schedule else None,
                "description": item.description,
            }
        )
    return rows


async def runs(request: Request) -> Response:
    """Runs and the slots schedules missed, newest first (as ``herald runs list``); one
    campaign's alone given ``?campaign=NAME``."""
    campaign = request.query_params.get("campaign") or None
    items = await blocking(_history, workspace(request), campaign)
    context = {"runs": items, "campaign": campaign}
    return render(request, "runs.html", context, data=items)


def _history(ws: Workspace, campaign: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {
            "id": run.id,
            "campaign": run.campaign,
            "version": run.campaign_version,
            "kind": run.kind,
            "trigger": run.trigger,
            "status": shown_status(ws, run),
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "started_by": run.started_by,
            "recipients": (run.stats or {}).get("recipients"),
        }
        for run in ws.store.list_runs(campaign, limit=RUNS_SHOWN)
    ]
    items += [
        {"id": None, "campaign": slot.campaign, "kind": "run", "trigger": "schedule",
         "status": "missed", "started_at": slot.slot}
        for slot in ws.store.schedule_slots(campaign)
        if slot.outcome == "missed"
    ]  # fmt: skip
    items.sort(key=lambda item: item["started_at"], reverse=True)
    return items[:RUNS_SHOWN]


async def destinations(request: Request) -> Response:
    """The destinations of herald.toml (never a key), each checked on demand."""
    ws = workspace(request)
    rows = [ws.destination(name).describe() for name in ws.settings.destinations]
    return render(request, "destinations.html", {"destinations": rows}, data=rows)


async def check_destination(request: Request) -> Response:
    """A destination's ``check`` result: a fragment for htmx, else the whole page."""
    ws = workspace(request)
    name = request.path_params["name"]
    destination = ws.destination(name)  # NotFoundError: a 404 page
    try:
        result = await destination.check()
        outcome = {"ok": result.ok, "detail": result.detail, "advice": result.advice}
    except HeraldError as error:
        outcome = {"ok": False, "detail": redact(str(error)), "advice": None}
    context = {"name": name, "target": destination.describe().get("target"), **outcome}
    if "hx-request" in request.headers:
        return render(request, "_check.html", {"c": context})
    rows = [ws.destination(n).describe() for n in ws.settings.destinations]
    return render(request, "destinations.html", {"destinations": rows, "checked": context})


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/segments", segments, methods=["GET"]),
    Route("/segments/activate", activate_segment, methods=["POST"]),
    Route("/campaigns", campaigns, methods=["GET"]),
    Route("/runs", runs, methods=["GET"]),
    Route("/destinations", destinations, methods=["GET"]),
    Route("/destinations/{name}/check", check_destination, methods=["GET"]),
]
